"""examples/search-facts.json: every seed fact has at least one search query, written with
R4 core parameters or the guide's SearchParameters (the service engineer runs them)."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

import pytest

from .conftest import EXAMPLES

SEED_FACTS = ["A.0"] + [f"A.{i}" for i in range(1, 13)] + ["B.0"] + [f"B.{i}" for i in range(1, 10)] + \
    [f"C.{i}" for i in (0, 1, 2, 4, 5, 6, 7)]
CORE_USED = {"identifier", "asserted-date", "gender", "birthdate", "code", "onset-date", "date", "value-concept", "value-quantity",
             "status", "effective", "clinical-status", "abatement-date", "component-value-quantity",
             "evidence-detail", "_tag", "patient", "class", "modality", "severity", "data-absent-reason",
             "study", "started"}


@pytest.fixture(scope="module")
def facts():
    return json.loads((EXAMPLES / "search-facts.json").read_text())


def test_every_seed_fact_has_a_query(facts):
    ids = {f["fact"].split(" ", 1)[0] for f in facts}
    assert set(SEED_FACTS) <= ids


def test_queries_use_known_parameters(facts, guide):
    guide_params = {sp["code"]: sp["base"] for sp in guide["searchParameters"]}
    for f in facts:
        rtype, _, qs = f["query"].partition("?")
        assert re.fullmatch(r"[A-Z][A-Za-z]+", rtype)
        for name, _ in parse_qsl(qs, keep_blank_values=True):
            base = name.split(":")[0].split(".")[0]
            if name.startswith("_has:"):
                continue
            assert base in CORE_USED or rtype in guide_params.get(base, []), (f["fact"], name)
        assert f["expect_min"] >= 0 and f.get("expect", f["expect_min"]) >= f["expect_min"]
