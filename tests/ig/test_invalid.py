"""Invalid examples: each breaks one rule, claims the profile it breaks, and lists the issues
it must raise; checked against fhirsvc.validation when it is importable."""
from __future__ import annotations

import json

import pytest

from .conftest import EXAMPLES

CASES = sorted(p.name.removesuffix(".json") for p in (EXAMPLES / "invalid").glob("*.json")
               if not p.name.endswith(".expected.json"))


def test_at_least_fifteen():
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", CASES)
def test_has_expected_file_and_claims_a_guide_profile(compiled, name):
    r = json.loads((EXAMPLES / "invalid" / f"{name}.json").read_text())
    exp = json.loads((EXAMPLES / "invalid" / f"{name}.expected.json").read_text())
    assert exp["description"] and exp["issues"]
    assert all(i["severity"] == "error" and i["expression"].split(".")[0].split("[")[0] == r["resourceType"]
               for i in exp["issues"])
    (prof,) = r["meta"]["profile"]
    assert compiled[prof]["type"] == r["resourceType"]


@pytest.mark.parametrize("name", CASES)
def test_raises_exactly_the_listed_issues(name):
    from fhirsvc.validation import default_validator  # a broken import fails, never skips
    r = json.loads((EXAMPLES / "invalid" / f"{name}.json").read_text())
    exp = json.loads((EXAMPLES / "invalid" / f"{name}.expected.json").read_text())
    got = sorted({(i.severity, i.expression[0] if i.expression else "")
                  for i in default_validator().validate(r) if i.severity in ("error", "fatal")})
    assert got == sorted({(i["severity"], i["expression"]) for i in exp["issues"]})
