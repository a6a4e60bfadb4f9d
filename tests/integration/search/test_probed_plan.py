"""A multi-condition search as its driver's rows probed per key (issue 16,
storage/search_probed.py): the same ids, order, paging links and totals as the usual
IN + EXISTS plan, on both databases (the probed statement runs on SQLite too when forced);
on PostgreSQL the statement joins nothing outside its per-key subqueries, whatever the
statistics say."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from conftest import BASE
from fhirsvc.search import SearchEngine
from fhirsvc.search.limits import SearchLimits
from fhirsvc.storage import dialect
from fhirsvc.storage import search_repository as sr


def _queries(env):
    pats = [p["id"] for p in env.by_type["Patient"]]
    enc = env.by_type["Encounter"][0]["id"]
    return [
        ("Observation", [("patient", pats[0]), ("code", "http://loinc.org|8302-2")]),
        ("Observation", [("code", "8302-2"), ("patient", "Patient/" + pats[1])]),
        ("Observation", [("subject", pats[2]), ("category", "vital-signs"),
                         ("status", "final")]),
        ("Observation", [("patient", pats[0]), ("date", "ge2015-01-01")]),
        ("Observation", [("patient", pats[0]), ("code:not", "8302-2")]),
        ("Observation", [("patient", pats[3]), ("_lastUpdated", "gt2000-01-01")]),
        ("Observation", [("encounter", "Encounter/" + enc), ("category", "laboratory")]),
        ("Observation", [("subject:Patient.family", env.by_type["Patient"][0]["name"][0]
                          ["family"]), ("code", "8302-2")]),
        ("Encounter", [("patient", pats[0]), ("_has:Observation:encounter:code", "8302-2")]),
        ("Observation", [("patient", pats[0]), ("code", "8302-2,8867-4,29463-7")]),
        ("Observation", [("patient", "nobody"), ("code", "8302-2")]),
        ("Observation", [("category", "vital-signs"), ("value-quantity", "gt50")]),
    ]


def _pages(engine, env, rtype, params, count, total):
    """Every page's ids, whether it has a next link, its total and its outcome entries."""
    out = []
    # the first pages one after the other, then every 37th match's page, to the last one
    for offset in list(range(0, 6 * count, count)) + list(range(6 * count, 2000, 37)):
        with env.db.unit_of_work() as uow:
            b = engine.search(uow, rtype, params + [("_count", str(count)),
                                                    ("_offset", str(offset)),
                                                    ("_total", total)], base_url=BASE)
        ids = [e["resource"]["id"] for e in b.get("entry", []) if e["search"]["mode"] == "match"]
        outcomes = [e["resource"] for e in b.get("entry", []) if e["search"]["mode"] != "match"]
        nxt = any(link["relation"] == "next" for link in b["link"])
        out.append((ids, nxt, b.get("total"), json.dumps(outcomes, sort_keys=True)))
        if not nxt:
            return out
    raise AssertionError("more pages than expected")


def _force(monkeypatch, on: bool, seen: list | None = None):
    monkeypatch.setattr(dialect, "probes_per_candidate", lambda conn: on)
    if seen is not None:
        real = sr.SearchRepository._find_probed

        def spy(self, *a, **k):
            seen.append(a[0].rtype)
            return real(self, *a, **k)
        monkeypatch.setattr(sr.SearchRepository, "_find_probed", spy)


@pytest.mark.parametrize("total, cap", [("none", 1000), ("estimate", 5),
                                        ("accurate", 1000)])
def test_the_probed_plan_answers_as_the_usual_plan(env, monkeypatch, total, cap):
    engine = SearchEngine(env.registry, limits=SearchLimits(total_cap=cap))
    expected = {}
    _force(monkeypatch, False)
    for n, (rtype, q) in enumerate(_queries(env)):
        expected[n] = _pages(engine, env, rtype, q, 4, total)
    assert sum(len(ids) for pages in expected.values() for ids, *_ in pages) > 50
    assert any(len(pages) > 2 for pages in expected.values())
    if cap == 5 and total == "estimate":   # some answer was over the cap: the left-out total
        assert any(t is None and nxt for pages in expected.values() for _i, nxt, t, _o in pages)
    seen: list = []
    _force(monkeypatch, True, seen)
    for n, (rtype, q) in enumerate(_queries(env)):
        assert _pages(engine, env, rtype, q, 4, total) == expected[n], q
    assert len(seen) >= len(_queries(env)) - 1   # every shape but the cheapest went through it


@pytest.mark.parametrize("first", [1, 6])
@pytest.mark.parametrize("total, cap", [("none", 1000), ("estimate", 5), ("accurate", 1000)])
def test_a_driver_over_the_probe_bound_answers_alike(env, monkeypatch, first, total, cap):
    """Only the first PROBE_MAX keys of the driver are probed: pages they settle are answered
    from them (matches in key order), the others fall back to the usual plan."""
    engine = SearchEngine(env.registry, limits=SearchLimits(total_cap=cap))
    _force(monkeypatch, False)
    expected = [_pages(engine, env, rtype, q, 4, total) for rtype, q in _queries(env)]
    monkeypatch.setattr(sr, "PROBE_FIRST", first)
    monkeypatch.setattr(sr, "PROBE_MAX", first)     # one batch
    settled = _settled(monkeypatch)
    got = [_pages(engine, env, rtype, q, 4, total) for rtype, q in _queries(env)]
    assert got == expected
    assert False in settled   # some fell back
    if total == "none" or cap == 5:
        assert True in settled    # some were settled by the first keys alone


@pytest.mark.parametrize("first", [1, 6])
@pytest.mark.parametrize("total, cap", [("none", 1000), ("estimate", 5), ("accurate", 1000)])
def test_a_large_driver_is_probed_batch_after_batch(env, monkeypatch, first, total, cap):
    """A driver with more keys than one batch goes on in further batches (keys above the
    last one probed) until the page and the total are settled, answering as the usual plan
    does: none falls back (under the mixed load a patient's 1,000th Observation sent every
    later search back to the plan that depends on estimates)."""
    engine = SearchEngine(env.registry, limits=SearchLimits(total_cap=cap))
    _force(monkeypatch, False)
    expected = [_pages(engine, env, rtype, q, 4, total) for rtype, q in _queries(env)]
    monkeypatch.setattr(sr, "PROBE_FIRST", first)
    settled = _settled(monkeypatch)
    got = [_pages(engine, env, rtype, q, 4, total) for rtype, q in _queries(env)]
    assert got == expected
    assert settled and all(settled)


def _settled(monkeypatch) -> list[bool]:
    """Route searches through _find_probed and record whether each was settled there."""
    settled: list[bool] = []
    real = sr.SearchRepository._find_probed

    def spy(self, *a, **k):
        page = real(self, *a, **k)
        settled.append(page is not None)
        return page
    _force(monkeypatch, True)
    monkeypatch.setattr(sr.SearchRepository, "_find_probed", spy)
    return settled


def test_deleted_and_updated_resources_answer_alike(env, monkeypatch):
    """A deleted Observation (index rows gone, resource row kept) and one updated away from the
    code are no longer matches in either plan; the one re-coded to it is."""
    pid = env.by_type["Patient"][4]["id"]
    obs = [o for o in env.by_type["Observation"]
           if o.get("subject", {}).get("reference", "").endswith(pid)]
    assert len(obs) >= 3

    def save(rid, resource):
        with env.db.unit_of_work(write=True) as uow:
            uow.resources.save("Observation", rid, resource,
                               "DELETE" if resource is None else "PUT",
                               uow.resources.read("Observation", rid, for_update=True))
            uow.commit()
    save(obs[0]["id"], None)
    save(obs[1]["id"], dict(obs[1], code={"coding": [{"system": "http://loinc.org",
                                                      "code": "8302-2"}]}))
    try:
        q = [("patient", pid), ("code", "http://loinc.org|8302-2")]
        engine = SearchEngine(env.registry)
        _force(monkeypatch, False)
        expected = [_pages(engine, env, "Observation", q, n, "accurate") for n in (1, 3, 50)]
        _force(monkeypatch, True)
        got = [_pages(engine, env, "Observation", q, n, "accurate") for n in (1, 3, 50)]
    finally:
        save(obs[0]["id"], obs[0])
        save(obs[1]["id"], obs[1])
    assert got == expected
    ids = [i for ids, *_ in got[2] for i in ids]
    assert obs[1]["id"] in ids and obs[0]["id"] not in ids


def _relations_outside_subplans(node, out):
    if node.get("Parent Relationship") in ("SubPlan", "InitPlan"):
        return out
    if "Relation Name" in node:
        out.add(node["Relation Name"])
    for child in node.get("Plans", []):
        _relations_outside_subplans(child, out)
    return out


def test_on_postgresql_only_the_driver_is_scanned_outside_the_per_key_probes(env):
    """The statement a patient + code page sends reads only the patient's reference rows; the
    code and the resource are tested per key. The usual plan joins resources, idx_token and
    idx_reference in an order PostgreSQL takes from its estimates (each one row on fresh data:
    it drove by the code, every Observation of it, under the mixed load)."""
    if env.db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL plans")
    pid = env.by_type["Patient"][0]["id"]
    captured = []

    def keep(conn, cursor, statement, params, *_a):
        if "idx_reference" in statement:
            captured.append((statement, params))
    event.listen(env.db.engine, "before_cursor_execute", keep)
    try:
        env.search("Observation", [("patient", pid), ("code", "http://loinc.org|8302-2"),
                                   ("_count", "2")])
    finally:
        event.remove(env.db.engine, "before_cursor_execute", keep)
    assert len(captured) == 1   # the page and its capped count: one statement
    statement, params = captured[0]
    with env.db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        plan = raw.execute("EXPLAIN (FORMAT JSON) " + statement, params).fetchone()[0]
        raw.rollback()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _relations_outside_subplans(plan[0]["Plan"], set()) == {"idx_reference"}
