"""Extraction that skips the parameters whose elements a resource lacks (`Compiled.keys`)
gives exactly the rows of running every extractor, over the Synthea bundles, the R4
examples and the project's examples (every resource inside a Bundle too)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirsvc import jsontext
from fhirsvc.search import SearchRegistry
from fhirsvc.search.extract import extract

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="module")
def reg():
    return SearchRegistry.load()  # core + the guide's parameters (range expansion included)


def _nested(resource):
    yield resource
    if resource.get("resourceType") == "Bundle":
        for entry in resource.get("entry") or ():
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield from _nested(entry["resource"])


def _resources(paths):
    for path in paths:
        try:
            doc = jsontext.loads(path.read_bytes())
        except ValueError:
            continue  # the examples of invalid input
        if isinstance(doc, dict) and isinstance(doc.get("resourceType"), str):
            yield from _nested(doc)


def _filled(rows):
    """Rows by kind, the kinds without rows left out (storage writes nothing for them)."""
    return {k: v for k, v in rows.items() if v}


def _sets():
    return {
        "synthea": sorted((SHARED / "synthea").glob("*.json")),
        "r4-examples": sorted((SHARED / "r4-examples").glob("*.json")),
        "examples": sorted((ROOT / "examples").rglob("*.json")),
    }


@pytest.mark.parametrize("name", ["synthea", "r4-examples", "examples"])
def test_gated_rows_are_the_rows_of_every_extractor(reg, name):
    files = _sets()[name]
    if not files:
        pytest.skip(f"no {name} files here")
    n = skipped = 0
    for r in _resources(files):
        rtype = r["resourceType"]
        fast, full = extract(reg, rtype, r, gated=True), extract(reg, rtype, r, gated=False)
        assert _filled(fast) == _filled(full), (rtype, r.get("id"))
        n += 1
        present = set(r)
        skipped += sum(1 for c in reg.compiled(rtype)
                       if c.keys is not None and c.keys.isdisjoint(present))
    assert n > 10
    assert skipped > n  # the gate did skip extractors: the comparison is not vacuous


def test_gate_keys_follow_choices_composites_and_fallbacks(reg):
    by_code = {c.param.code: c for c in reg.compiled("Observation")}
    # a choice element: each typed JSON name opens the gate
    assert {"valueQuantity"} <= by_code["value-quantity"].keys
    # a composite rooted at the resource opens with its first component's element
    assert "code" in by_code["code-value-quantity"].keys
    # component-code-value-*: the component element
    assert "component" in by_code["component-code-value-quantity"].keys
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "1"}]},
           "valueQuantity": {"value": 2, "system": "http://unitsofmeasure.org", "code": "mg"}}
    rows = extract(reg, "Observation", obs)
    assert [r for r in rows["quantity"] if r.param == "value-quantity"]
    assert [r for r in rows["composite"] if r.param == "code-value-quantity"]
    assert _filled(rows) == _filled(extract(reg, "Observation", json.loads(json.dumps(obs)),
                                            gated=False))


def test_an_expression_fhirpathpy_evaluates_has_no_gate(reg):
    fallback = [c for t in ("Patient", "Observation", "Condition", "Encounter")
                for c in reg.compiled(t)
                if c.extract is not None and getattr(c.extract, "fallback", False)]
    assert all(c.keys is None for c in fallback)
