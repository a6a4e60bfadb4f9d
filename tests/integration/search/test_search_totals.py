"""Totals and page walks (issue 16): a search that does not ask `_total=accurate` counts up to
the cap and leaves `total` out above it (an informational issue says so); `_total=accurate`,
`_summary=count` and `_count=0` stay exact; a date range or string prefix alone is paged in
its index's order, stopping at the page's end. Both databases."""
from __future__ import annotations

import pytest

from conftest import BASE
from fhirsvc.search import SearchEngine
from fhirsvc.search.limits import SearchLimits
from fhirsvc.storage import search_repository as sr
from fhirsvc.storage.search_sql import compile_clause

DATE = [("date", "ge2014-01-01"), ("date", "lt2019-01-01")]


def _search(env, engine, rtype, params):
    with env.db.unit_of_work() as uow:
        return engine.search(uow, rtype, list(params), base_url=BASE)


def _outcome(bundle):
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def _exact(env, rtype, params) -> int:
    return env.search(rtype, list(params) + [("_total", "accurate")])["total"]


@pytest.mark.parametrize("rtype, params", [
    ("Observation", [("code", "http://loinc.org|8302-2")]),            # one token, key order
    ("Observation", DATE),                                               # date walk
    ("Patient", [("address-state", "mass")]),                            # string walk
    ("Observation", [("status", "final"), ("category", "vital-signs")]),  # general plan
])
def test_the_total_is_exact_up_to_the_cap_and_left_out_above_it(env, rtype, params):
    exact = _exact(env, rtype, params)
    assert exact > 3
    capped = SearchEngine(env.registry, limits=SearchLimits(total_cap=exact - 1))
    over = _search(env, capped, rtype, params + [("_count", "2")])
    assert "total" not in over
    [oo] = _outcome(over)
    [issue] = oo["issue"]
    assert (issue["severity"], issue["code"]) == ("information", "informational")
    assert f"More than {exact - 1} " in issue["details"]["text"]
    assert len([e for e in over["entry"] if e["search"]["mode"] == "match"]) == 2
    for value in ("estimate", None):  # estimate: the same policy as not asking
        extra = [("_total", value)] if value else []
        assert "total" not in _search(env, capped, rtype, params + extra)
    # exact whenever asked, and whenever the total is the answer
    assert _search(env, capped, rtype, params + [("_total", "accurate")])["total"] == exact
    assert _search(env, capped, rtype, params + [("_summary", "count")])["total"] == exact
    assert _search(env, capped, rtype, params + [("_count", "0")])["total"] == exact
    at_cap = SearchEngine(env.registry, limits=SearchLimits(total_cap=exact))
    for count in ("2", "1000"):
        got = _search(env, at_cap, rtype, params + [("_count", count)])
        assert got["total"] == exact and not _outcome(got)
    # none: no total, and no issue about it
    none = _search(env, capped, rtype, params + [("_total", "none")])
    assert "total" not in none and not _outcome(none)


def test_the_last_page_gives_its_total_without_a_count(env, monkeypatch):
    counted = []
    for name in ("_count", "_count_index"):
        real = getattr(sr.SearchRepository, name)
        monkeypatch.setattr(sr.SearchRepository, name,
                            lambda self, *a, _real=real: counted.append(1) or _real(self, *a))
    params = [("code", "http://loinc.org|8302-2"), ("_total", "accurate")]
    exact = env.search("Observation", params)["total"]
    counted.clear()
    last = env.search("Observation", params + [("_count", "3"), ("_offset", str(exact - 2))])
    assert last["total"] == exact and not counted
    full = env.search("Observation", params + [("_count", "1000")])
    assert full["total"] == exact and not counted
    # past the end the page says nothing: counted
    assert env.search("Observation", params + [("_offset", str(exact + 5))])["total"] == exact
    assert counted


@pytest.mark.parametrize("rtype, params", [
    ("Observation", DATE), ("Patient", [("address-state", "m")]), ("Patient", [("name", "k")])])
def test_a_range_alone_is_paged_in_index_order_every_match_once(env, rtype, params):
    """Pages of 7 following the offsets: each match exactly once (a patient with two
    matching names too), Observations in the order of their dates (the index's order)."""
    every = env.ids(rtype, params)
    seen: list[dict] = []
    offset = 0
    while True:
        b = env.search(rtype, params + [("_count", "7"), ("_offset", str(offset))])
        page = [e["resource"] for e in b.get("entry", []) if e["search"]["mode"] == "match"]
        seen.extend(page)
        if not any(link["relation"] == "next" for link in b["link"]):
            break
        offset += 7
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)) and set(ids) == every
    if rtype == "Observation":  # short values all: the walk of the (low) range
        values = [r["effectiveDateTime"] for r in seen]
        assert values == sorted(values)


@pytest.mark.parametrize("rtype, param, value, index", [
    ("Observation", "date", "ge2015-03-01", "ix_idx_date_low"),
    ("Patient", "family", "sm", "ix_idx_string_value"),
])
def test_sqlite_walks_one_index_range_in_order_without_a_sort(env, rtype, param, value, index):
    """The plan of each walk is one covering index range read in order: no temporary B-tree
    (the page of main's plan sorted every match: USE TEMP B-TREE FOR DISTINCT)."""
    if env.db.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    query = env.engine.parser.parse(rtype, [(param, value)], base_url=BASE, strict=True,
                                    compartment=None)
    [clause] = query.criteria.clauses
    walks = compile_clause(clause).walks()
    with env.db.unit_of_work() as uow:
        for q in walks:
            compiled = q.limit(21).compile(uow.conn, compile_kwargs={"literal_binds": True})
            plan = " | ".join(row[3] for row in uow.conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert f"COVERING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan
