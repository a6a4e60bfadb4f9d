"""The bulk loader (fhirsvc.storage.bulk_load) writes the same rows as the normal write path:
resources, versions (text identical but for meta.lastUpdated) and every index row, on SQLite
and PostgreSQL; its deferred indexes are back afterwards; it only creates."""
from __future__ import annotations

import orjson
import pytest
from sqlalchemy import inspect, select

import synthea
from conftest import PG_ADMIN, make_env

from fhirsvc.storage import ConflictError, Database
from fhirsvc.storage import fulltext
from fhirsvc.storage.bulk_load import BulkLoader, deferrable_indexes
from fhirsvc.storage.migrate import upgrade
from fhirsvc.storage.scratch import ScratchDatabases
from fhirsvc.storage.tables import INDEX_TABLES
from fhirsvc.storage.tables import resource_versions as V
from fhirsvc.storage.tables import resources as R
from fhirsvc.search import Indexer


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request, tmp_path_factory, registry):
    """(normal-path env, bulk-loaded db) over the same resources, same backend."""
    if not synthea.available():
        pytest.fail(f"Synthea bundles not found at {synthea.SYNTHEA}")
    resources = synthea.load()
    normal, cleanup = make_env(request.param, tmp_path_factory, registry, resources)
    scratch = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bulk') / 'bulk.db'}"
    else:
        scratch = ScratchDatabases(PG_ADMIN)
        url = scratch.create("fhirsvc_bulk")
    upgrade(url)
    db = Database(url, indexer=Indexer(registry))
    # a small batch so that several transactions (and key ranges) are exercised
    result = BulkLoader(db, batch=97).load(resources)
    yield normal, db, result, resources
    db.dispose()
    if scratch is not None:
        scratch.drop(url)
        scratch.dispose()
    cleanup()


def _keys(db) -> dict[int, tuple[str, str]]:
    with db.engine.connect() as conn:
        return {pk: (t, i) for pk, t, i in conn.execute(
            select(R.c.pk, R.c.resource_type, R.c.resource_id))}


def _index_rows(db) -> dict[str, list[tuple]]:
    """Every index row with the resource key replaced by (type, id), sorted."""
    keys = _keys(db)
    out = {}
    with db.engine.connect() as conn:
        for kind, table in INDEX_TABLES.items():
            rows = [keys[r[0]] + tuple(r[1:]) for r in conn.execute(select(table))]
            out[kind] = sorted(rows, key=repr)
        if conn.dialect.name == "sqlite":
            q = f"SELECT res_pk, resource_type, narrative, content FROM {fulltext.TABLE}"
        else:
            q = (f"SELECT res_pk, resource_type, narrative::text, content::text "
                 f"FROM {fulltext.TABLE}")
        out["text"] = sorted((keys[r[0]] + tuple(r[1:]) for r in conn.exec_driver_sql(q)),
                             key=repr)
    return out


def test_same_index_rows_as_the_normal_path(pair):
    normal, bulk, result, resources = pair
    assert result.loaded == len(resources)
    a, b = _index_rows(normal.db), _index_rows(bulk)
    assert sum(len(v) for v in a.values()) > 10 * len(resources)   # a real comparison
    for kind in a:
        assert a[kind] == b[kind], kind


def test_same_resources_and_versions(pair):
    normal, bulk, _result, resources = pair

    def versions(db):
        keys = _keys(db)
        with db.engine.connect() as conn:
            out = {}
            for row in conn.execute(select(V)):
                res = orjson.loads(row.content)
                assert res["meta"].pop("lastUpdated")
                out[keys[row.res_pk]] = (row.version, row.resource_type, bool(row.deleted),
                                         row.method, res)
            return out
    va, vb = versions(normal.db), versions(bulk)
    assert len(va) == len(resources)
    assert va == vb
    # the current row agrees with its version row (last_updated, version)
    with bulk.engine.connect() as conn:
        bad = conn.execute(select(R.c.pk).select_from(R.join(V, V.c.res_pk == R.c.pk)).where(
            (R.c.last_updated != V.c.last_updated) | (R.c.version != V.c.version))).all()
    assert bad == []


def test_searches_answer_the_same(pair, registry):
    normal, bulk, _result, resources = pair
    # the same kind of env over the bulk-loaded database (a `from conftest import Env` would
    # pick whichever conftest module was imported first in this worker)
    other = type(normal)(bulk, registry, resources)
    pat = next(r for t, _i, r in resources if t == "Patient")
    for rtype, params in [
            ("Observation", [("patient", pat["id"]), ("code", "http://loinc.org|8302-2")]),
            ("Observation", [("date", "ge2015-01-01"), ("date", "lt2015-07-01")]),
            ("Observation", [("subject:Patient.family", pat["name"][0]["family"])]),
            ("Patient", [("family", pat["name"][0]["family"][:3])])]:
        ids = normal.ids(rtype, params)
        assert ids, params
        assert other.ids(rtype, params) == ids


def test_deferred_indexes_are_rebuilt(pair):
    _normal, bulk, result, _resources = pair
    assert result.deferred_indexes   # the database was empty
    with bulk.engine.connect() as conn:
        insp = inspect(conn)
        present = {ix["name"] for t in INDEX_TABLES.values() for ix in insp.get_indexes(t.name)}
    assert {ix.name for ix in deferrable_indexes()} <= present


def test_a_stored_id_is_a_conflict_and_keeps_the_indexes(pair):
    _normal, bulk, _result, resources = pair
    rtype, rid, res = resources[0]
    before = _keys(bulk)
    extra = dict(res, id="bulk-new-1")
    with pytest.raises(ConflictError):
        # not empty: indexes are kept (no deferral); the batch with the stored id rolls back
        BulkLoader(bulk, batch=10, analyze=False).load([(rtype, "bulk-new-1", extra),
                                                        (rtype, rid, res)])
    assert _keys(bulk) == before
    # a later load into the live database works and is searchable at once
    BulkLoader(bulk, analyze=False).load([(rtype, "bulk-new-2", dict(res, id="bulk-new-2"))])
    with bulk.unit_of_work() as uow:
        assert uow.resources.read(rtype, "bulk-new-2") is not None


def test_cli_load_bulk(tmp_path, capsys):
    """`python -m fhirsvc load --bulk` of an NDJSON file and a Bundle; a resource without an
    id is refused before anything is written."""
    from fhirsvc import cli
    resources = synthea.load()[:300]
    nd = tmp_path / "part.ndjson"
    nd.write_bytes(b"\n".join(orjson.dumps(r) for _t, _i, r in resources[:200]) + b"\n")
    bundle = tmp_path / "rest.json"
    bundle.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": r} for _t, _i, r in resources[200:]]}))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli.main(["load", "--database-url", url, "--bulk", "--batch", "64", str(nd),
                     str(bundle)]) == 0
    assert "300 resources" in capsys.readouterr().out
    db = Database(url)
    with db.unit_of_work() as uow:
        assert uow.resources.count() == 300
        rtype, rid, _ = resources[250]
        assert uow.resources.read(rtype, rid) is not None
    db.dispose()
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(orjson.dumps({"resourceType": "Patient"}) + b"\n")
    assert cli.main(["load", "--database-url", url, "--bulk", str(bad)]) == 1
    assert "FAILED" in capsys.readouterr().out
