"""Clearing the index rows of resources (an update or delete replaces them): every index table
and the full-text table lose the rows of exactly those resources, on SQLite and PostgreSQL;
on PostgreSQL in one statement (one round trip, not one per table)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fhirsvc.search import Indexer, SearchRegistry
from fhirsvc.storage import Database, fulltext
from fhirsvc.storage.tables import INDEX_TABLES
from tools.sql_log import statements_run


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url, indexer=Indexer(SearchRegistry.load(guide_dir=None)))
    yield database
    database.dispose()


def _patient(pid: str) -> dict:
    return {"resourceType": "Patient", "gender": "female", "birthDate": "1970-01-01",
            "name": [{"family": f"Fam{pid}", "text": "a name"}], "active": True,
            "text": {"status": "generated", "div": f"<div>patient {pid}</div>"},
            "identifier": [{"system": "http://mrn", "value": pid}],
            "managingOrganization": {"reference": "Organization/o"}}


def _rows(uow, pks) -> dict:
    out = {}
    for name, table in INDEX_TABLES.items():
        out[name] = uow.conn.execute(select(func.count()).select_from(table).where(
            table.c.res_pk.in_(pks))).scalar()
    key = "rowid" if uow.conn.dialect.name == "sqlite" else "res_pk"
    mark = "?" if uow.conn.dialect.name == "sqlite" else "%s"
    out["text"] = uow.conn.exec_driver_sql(
        f"SELECT count(*) FROM {fulltext.TABLE} WHERE {key} IN ({', '.join([mark] * len(pks))})",
        tuple(pks)).scalar()
    return out


def test_delete_clears_every_index_table_of_those_resources_only(db):
    with db.unit_of_work(write=True) as uow:
        stored = [uow.resources.save("Patient", f"del-{i}", _patient(f"del-{i}"), "PUT", None)
                  for i in range(3)]
        uow.commit()
    pks = [s.pk for s in stored]
    with db.unit_of_work() as uow:
        before = _rows(uow, pks[:2])
    filled = [k for k, n in before.items() if n]
    assert {"token", "string", "date", "reference", "text"} <= set(filled), before

    with statements_run(db.engine) as statements:
        with db.unit_of_work(write=True) as uow:
            uow.index.delete(pks[:2])
            uow.commit()
    if db.dialect == "postgresql":
        assert len(statements) == 1, statements
    with db.unit_of_work() as uow:
        assert set(_rows(uow, pks[:2]).values()) == {0}
        kept = _rows(uow, pks[2:])
    assert {k: n for k, n in kept.items() if n} and all(kept[k] for k in filled)


def test_an_update_leaves_only_the_new_versions_rows(db):
    with db.unit_of_work(write=True) as uow:
        first = uow.resources.save("Patient", "upd-1", _patient("upd-1"), "PUT", None)
        uow.commit()
    changed = dict(_patient("upd-1"), name=[{"family": "Other"}])
    with db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "upd-1", changed, "PUT",
                           uow.resources.read("Patient", "upd-1"))
        uow.commit()
    string = INDEX_TABLES["string"]
    with db.unit_of_work() as uow:
        values = {r[0] for r in uow.conn.execute(
            select(string.c.value).where(string.c.res_pk == first.pk,
                                         string.c.param == "family"))}
    assert values == {"other"}, values


def test_a_resource_created_flushed_and_updated_in_one_unit_of_work_keeps_one_set_of_rows(db):
    """Creates skip the look-up of old rows until their rows are written: an update after a
    flush inside the same unit of work must still replace them, not add a second set."""
    changed = dict(_patient("cfu-1"), name=[{"family": "Later"}])
    with db.unit_of_work(write=True) as uow:
        (first,) = uow.resources.create_many([("Patient", "cfu-1", _patient("cfu-1"), "POST")])
        uow.flush_index()             # as before the reads of a transaction
        uow.resources.save("Patient", "cfu-1", changed, "PUT",
                           uow.resources.read("Patient", "cfu-1"))
        uow.commit()
    string = INDEX_TABLES["string"]
    with db.unit_of_work() as uow:
        values = [r[0] for r in uow.conn.execute(
            select(string.c.value).where(string.c.res_pk == first.pk,
                                         string.c.param == "family"))]
        token = INDEX_TABLES["token"]
        idents = uow.conn.execute(select(func.count()).select_from(token).where(
            token.c.res_pk == first.pk, token.c.param == "identifier")).scalar()
    assert values == ["later"] and idents == 1, (values, idents)


def test_creates_write_their_rows_without_looking_for_old_ones(db):
    with statements_run(db.engine) as statements:
        with db.unit_of_work(write=True) as uow:
            stored = uow.resources.create_many(
                [("Patient", f"fresh-{i}", _patient(f"fresh-{i}"), "POST") for i in range(3)])
            uow.commit()
    assert not [s for s in statements if "version >" in s], statements
    with db.unit_of_work() as uow:
        assert all(_rows(uow, [s.pk])["token"] for s in stored)
