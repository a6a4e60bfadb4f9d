"""Every fact of the seed documents is findable through the search API (issue: the guide).

The queries are data (`examples/search-facts.json`, generated from the guide's examples by
scripts/gen_search_facts.py); the examples are loaded through the normal ingestion path.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fhirsvc.cli import example_files, load_files

ROOT = Path(__file__).resolve().parents[2]
FACTS = json.loads((ROOT / "examples" / "search-facts.json").read_text())


@pytest.fixture(scope="module")
def loaded(runtime):
    failed = load_files(runtime, example_files(ROOT / "examples"), out=open(os.devnull, "w"))
    assert failed == 0
    return runtime


@pytest.mark.parametrize("fact", FACTS, ids=[f["fact"][:48] for f in FACTS])
def test_fact_is_findable(client, loaded, fact):
    resp = client.get("/fhir/" + fact["query"], headers={"Prefer": "handling=strict"})
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    matches = [e for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    assert bundle["total"] >= fact["expect_min"] and len(matches) >= min(fact["expect_min"], 1), \
        fact["fact"]
