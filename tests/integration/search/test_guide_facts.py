"""The guide's search facts (examples/search-facts.json): every query, run against the example
Bundles stored with new ids, finds at least `expect_min` resources (exactly `expect` when the
fact says so). Exercises the guide's own SearchParameters, chains and _has on real cases."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from conftest import make_env

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BUNDLES = ("case-a.json", "case-b.json", "cohort.json")


def _rewrite(node, refs):
    if isinstance(node, dict):
        return {k: (refs.get(v, v) if k == "reference" and isinstance(v, str) else
                    _rewrite(v, refs)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(x, refs) for x in node]
    return node


def example_resources() -> list[tuple[str, str, dict]]:
    refs, entries = {}, []
    for name in BUNDLES:
        for e in json.loads((EXAMPLES / name).read_text())["entry"]:
            res = e["resource"]
            rid = res.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, e["fullUrl"]))
            refs[e["fullUrl"]] = f"{res['resourceType']}/{rid}"
            entries.append((res["resourceType"], rid, res))
    return [(t, i, {**_rewrite(r, refs), "id": i}) for t, i, r in entries]


FACTS = json.loads((EXAMPLES / "search-facts.json").read_text()) \
    if (EXAMPLES / "search-facts.json").exists() else []


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def guide(request, tmp_path_factory, registry):
    e, cleanup = make_env(request.param, tmp_path_factory, registry, example_resources())
    yield e
    cleanup()


def test_guide_search_facts(guide):
    assert FACTS, "examples/search-facts.json is missing"
    failures = []
    for fact in FACTS:
        rtype, _, qs = fact["query"].partition("?")
        try:
            bundle = guide.search(rtype, parse_qsl(qs, keep_blank_values=True)
                                  + [("_count", "1000")], strict=True)
        except Exception as exc:  # noqa: BLE001 - reported with the fact below
            failures.append((fact["fact"], fact["query"], repr(exc)))
            continue
        n = len([e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"])
        ok = n >= fact["expect_min"] and ("expect" not in fact or n == fact["expect"])
        if not ok:
            failures.append((fact["fact"], fact["query"], n, fact.get("expect"),
                             fact["expect_min"]))
    assert not failures, "\n".join(map(str, failures))
