"""The chain walk on PostgreSQL in one statement per batch (chain_walk.batch_statement, issue
16): the partner's next keys, their references and the new targets' verdicts in one round
trip. Same pages as the set plan, also where partner keys have no reference under the chain's
parameter, name a target that does not exist or was deleted, and fall on batch boundaries;
each batch is one statement; its plan seeks by key and by id."""
from __future__ import annotations

import copy

import pytest

from conftest import BASE
from fhirsvc.search import criteria as c
from fhirsvc.storage import chain_walk, search_sql
from fhirsvc.storage import search_repository as sr
from tools.sql_log import statements_run

CODE = {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}


@pytest.fixture(scope="module")
def walk_env(env):
    """The Synthea set, plus height Observations whose subject is missing, unknown or a
    deleted patient of the family, interleaved in key order with the real ones."""
    pats = [p for p in env.by_type["Patient"] if p["name"][0]["family"].lower().startswith("k")]
    gone = copy.deepcopy(pats[0])
    gone["id"] = "walk-gone"
    extra = []
    for n in range(12):
        obs = {"resourceType": "Observation", "status": "final", "code": CODE,
               "valueQuantity": {"value": 170 + n, "unit": "cm"}}
        if n % 4 == 1:
            obs["subject"] = {"reference": "Patient/walk-unknown"}
        elif n % 4 == 2:
            obs["subject"] = {"reference": "Patient/walk-gone"}
        elif n % 4 == 3:
            obs["subject"] = {"reference": "Patient/" + pats[n % len(pats)]["id"]}
        extra.append((f"walk-{n}", obs))
    with env.db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "walk-gone", gone, "PUT", None)
        for rid, obs in extra:
            uow.resources.save("Observation", rid, obs, "PUT", None)
        uow.commit()
    with env.db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "walk-gone", None, "DELETE",
                           uow.resources.read("Patient", "walk-gone", for_update=True))
        uow.commit()
    return env


def _pages(env, params, count):
    out = []
    for offset in range(0, 400, count):
        b = env.search("Observation", params + [("_count", str(count)),
                                                ("_offset", str(offset)), ("_total", "none")])
        out.append([e["resource"]["id"] for e in b.get("entry", [])
                    if e["search"]["mode"] == "match"])
        if not any(link["relation"] == "next" for link in b["link"]):
            return out
    raise AssertionError("more pages than expected")


@pytest.mark.parametrize("first, batch", [(1, 1), (1, 3), (4, 500)])
def test_batches_answer_as_the_set_plan(walk_env, monkeypatch, first, batch):
    q = [("subject:Patient.family", "k"), ("code", "8302-2")]
    monkeypatch.setattr(sr, "CHAIN_FEW", 10**6)      # the targets listed: the set plan
    expected = _pages(walk_env, q, 3)
    assert sum(map(len, expected)) >= 6
    monkeypatch.setattr(sr, "CHAIN_FEW", 0)          # walked
    monkeypatch.setattr(sr, "WALK_FIRST", first)
    monkeypatch.setattr(sr, "WALK_BATCH", batch)
    monkeypatch.setattr(sr, "WALK_BATCHES", 10**4)    # never falls back: the walk answers
    resolved = []
    real = sr.SearchRepository._resolved
    monkeypatch.setattr(sr.SearchRepository, "_resolved", staticmethod(
        lambda compiled: resolved.append(1) or real(compiled)))
    with statements_run(walk_env.db.engine) as run:
        assert _pages(walk_env, q, 3) == expected
    assert not resolved
    if walk_env.db.dialect == "postgresql":
        batches = [s for s in run if s.lstrip().startswith("WITH walk_keys")]
        assert batches
        # no separate key, reference or target statements: one statement per batch
        assert not any("FROM idx_reference" in s and "walk_" not in s for s in run), run
        assert not any("idx_token" in s and "WITH walk_keys" not in s for s in run), run


def _parse(env, params):
    return env.engine.parser.parse("Observation", params, base_url=BASE, strict=True,
                                   compartment=None).criteria.clauses


def _nodes(plan, under_subplan=False):
    yield plan, under_subplan
    for child in plan.get("Plans", []):
        yield from _nodes(child, under_subplan or child.get("Parent Relationship") == "SubPlan")


def test_batch_plan_seeks_by_key_and_by_id(walk_env):
    """Each key's reference through ix_idx_reference_pk (index only), each target by its id
    (uq_resources_type_id), the family tested per target through (res_pk, param) only (the
    family's value range is every patient of the family: neither driving a join nor filtered
    by key per target)."""
    if walk_env.db.dialect != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's")
    chain, code = _parse(walk_env, [("subject:Patient.family", "k"), ("code", "8302-2")])
    assert isinstance(chain, c.ChainClause)
    sub = search_sql.compile_clause(code).rows().subquery()
    q = chain_walk.batch_statement(chain, sub).params(last=chain_walk.FIRST, size=50)
    with walk_env.db.unit_of_work() as uow:
        compiled = q.compile(uow.conn, compile_kwargs={"literal_binds": True})
        # the test database is small: no sequential or bitmap scans, so the plan shows what
        # a large one uses
        uow.conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        uow.conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        plan = uow.conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}").scalar()[0]["Plan"]
    nodes = list(_nodes(plan))
    refs = [n for n, _s in nodes if n.get("Relation Name") == "idx_reference"]
    assert refs and all((n["Node Type"], n["Index Name"]) == ("Index Only Scan",
                                                             "ix_idx_reference_pk")
                        for n in refs), refs
    targets = [(n, s) for n, s in nodes if n.get("Relation Name") == "resources"]
    assert targets and all(n.get("Index Name") == "uq_resources_type_id" and s
                           for n, s in targets), targets
    strings = [(n, s) for n, s in nodes if n.get("Relation Name") == "idx_string"]
    # per target, by its key (chain_walk.by_key): never the family's value range
    assert strings and all(s and n.get("Index Name") == "ix_idx_string_pk"
                           for n, s in strings), strings
    tokens = [n for n, _s in nodes if n.get("Relation Name") == "idx_token"]
    assert tokens and all(n.get("Index Name") == "ix_idx_token_code" for n in tokens), tokens


def test_deferred_chain_is_the_chain(walk_env):
    """chain_walk.deferred builds search_sql's chain condition on first use, same rank and
    fan-out (the walk's choice of partner and the set plan's order rest on them)."""
    chain = _parse(walk_env, [("subject:Patient.family", "k")])[0]
    lazy, full = chain_walk.deferred(chain), search_sql.compile_clause(chain)
    assert (lazy.rank, lazy.fanout, lazy.index_only, lazy.ordered_rows) == \
        (full.rank, full.fanout, full.index_only, full.ordered_rows)
    with walk_env.db.unit_of_work() as uow:
        got = sorted(pk for (pk,) in uow.conn.execute(lazy.rows()))
        want = sorted(pk for (pk,) in uow.conn.execute(full.rows()))
    assert got == want and got


def test_the_family_range_cannot_serve_the_per_target_test(walk_env):
    """Without (res_pk, param) the per-target test has no index it can seek: the value index
    (resource_type, param, value, res_pk) is kept from seeking the family's range and
    filtering it by key (at 1M PostgreSQL chose that, estimating the range at one row)."""
    if walk_env.db.dialect != "postgresql":
        pytest.skip("the one-statement batch is PostgreSQL's")
    chain, code = _parse(walk_env, [("subject:Patient.family", "k"), ("code", "8302-2")])
    sub = search_sql.compile_clause(code).rows().subquery()
    q = chain_walk.batch_statement(chain, sub).params(last=chain_walk.FIRST, size=50)
    with walk_env.db.engine.connect() as conn:
        trans = conn.begin()
        try:
            compiled = q.compile(conn, compile_kwargs={"literal_binds": True})
            conn.exec_driver_sql("DROP INDEX ix_idx_string_pk")   # rolled back below
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}").scalar()[0]
        finally:
            trans.rollback()
    strings = [n for n, _s in _nodes(plan["Plan"]) if n.get("Relation Name") == "idx_string"]
    assert strings and all("resource_type" not in n.get("Index Cond", "") for n in strings), \
        strings
