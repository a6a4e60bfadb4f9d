"""Repository and unit of work on SQLite and PostgreSQL."""
from __future__ import annotations

import copy

import pytest

from fhirsvc.storage import ConflictError, Database, NotFoundError
from fhirsvc.storage.repository import Stored
from fhirsvc.storage.schema import differences
from tools.sql_log import statements_run


class Recorder:
    """An indexer that records what it was asked to index."""

    def __init__(self):
        self.seen: list[tuple[str, dict]] = []

    def rows(self, rtype, resource):
        self.seen.append((rtype, resource))
        return {}


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def save(db, rtype, rid, resource, method="PUT"):
    with db.unit_of_work(write=True) as uow:
        current = uow.resources.read(rtype, rid, for_update=True)
        stored = uow.resources.save(rtype, rid, resource, method, current)
        uow.commit()
    return stored


def versions(db) -> int:
    with db.unit_of_work() as uow:
        return uow.resources.history(count=0)[0]


def test_versions_and_meta(db):
    s1 = save(db, "Patient", "r1", {"resourceType": "Patient", "gender": "male"})
    s2 = save(db, "Patient", "r1", {"resourceType": "Patient", "gender": "female"})
    assert (s1.version, s2.version) == (1, 2)
    assert s2.last_updated > s1.last_updated
    res = s2.resource()
    assert list(res)[:3] == ["resourceType", "id", "meta"]
    assert res["meta"]["versionId"] == "2" and res["id"] == "r1"
    with db.unit_of_work() as uow:
        assert uow.resources.read("Patient", "r1").content == s2.content
        assert uow.resources.vread("Patient", "r1", 1).resource()["gender"] == "male"
        total, rows = uow.resources.history("Patient", "r1")
    assert total == 2 and [r.version for r in rows] == [2, 1]


def test_save_and_create_many_leave_the_callers_dict_alone(db_url):
    recorder = Recorder()
    database = Database(db_url, indexer=recorder)
    given = {"resourceType": "Patient", "id": "client-id",
             "meta": {"versionId": "client", "tag": [{"code": "t"}]}, "gender": "male"}
    batch = [{"resourceType": "Observation", "status": "final"}, {"resourceType": "Device"}]
    before, batch_before = copy.deepcopy(given), copy.deepcopy(batch)
    with database.unit_of_work(write=True) as uow:
        first = uow.resources.save("Patient", "nm1", given, "PUT", None)
        second = uow.resources.save("Patient", "nm1", given, "PUT", first)
        made = uow.resources.create_many([("Observation", "nm2", batch[0], "POST"),
                                          ("Device", "nm3", batch[1], "POST")])
        uow.commit()
    database.dispose()
    assert given == before and batch == batch_before
    assert second.resource()["meta"] == {"versionId": "2", "tag": [{"code": "t"}],
                                         "lastUpdated": second.last_updated_instant}
    assert [s.resource()["id"] for s in made] == ["nm2", "nm3"]
    # the index extraction saw the stored copies, stamped, not the caller's dicts (and only
    # the last version of a resource saved twice in the transaction)
    assert [(t, r["id"], r["meta"]["versionId"]) for t, r in recorder.seen] == [
        ("Patient", "nm1", "2"), ("Observation", "nm2", "1"), ("Device", "nm3", "1")]
    assert all(r is not given and r is not batch[0] for _t, r in recorder.seen)
    assert recorder.seen[0][1] == second.resource()


def test_logical_delete_keeps_history(db):
    save(db, "Patient", "r2", {"resourceType": "Patient"})
    deleted = save(db, "Patient", "r2", None, "DELETE")
    assert deleted.deleted and deleted.content is None
    with db.unit_of_work() as uow:
        current = uow.resources.read("Patient", "r2")
        assert current.deleted and current.version == 2
        assert not uow.resources.exists("Patient", "r2")
        assert uow.resources.vread("Patient", "r2", 1).content


def test_rollback_leaves_nothing(db):
    before = versions(db)
    with pytest.raises(RuntimeError):
        with db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", "r3", {"resourceType": "Patient"}, "PUT", None)
            uow.resources.save("Patient", "r4", {"resourceType": "Patient"}, "PUT", None)
            raise RuntimeError("crash before commit")
    with db.unit_of_work() as uow:
        assert uow.resources.read("Patient", "r3") is None
    assert versions(db) == before


def test_uncommitted_unit_of_work_rolls_back(db):
    with db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "r5", {"resourceType": "Patient"}, "PUT", None)
    with db.unit_of_work() as uow:
        assert uow.resources.read("Patient", "r5") is None


def test_duplicate_create_is_a_conflict(db):
    save(db, "Patient", "r6", {"resourceType": "Patient"})
    before = versions(db)
    with pytest.raises(ConflictError, match="Patient/r6.*retry"):
        with db.unit_of_work(write=True) as uow:
            uow.resources.create_many([("Basic", "r6b", {"resourceType": "Basic"}, "POST"),
                                       ("Patient", "r6", {"resourceType": "Patient"}, "POST")])
    assert versions(db) == before


def test_save_over_a_stale_read_is_a_conflict(db):
    v1 = save(db, "Patient", "r7", {"resourceType": "Patient", "gender": "male"})
    save(db, "Patient", "r7", {"resourceType": "Patient", "gender": "female"})
    with pytest.raises(ConflictError, match="version 1 was read; retry"):
        with db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", "r7", {"resourceType": "Patient"}, "PUT", v1)
    with db.unit_of_work() as uow:
        assert uow.resources.read("Patient", "r7").resource()["gender"] == "female"


def test_save_of_a_resource_that_is_not_stored_is_not_found(db):
    ghost = Stored(10**12, "Patient", "ghost", 1, 0, False, "PUT", "{}")
    with pytest.raises(NotFoundError, match="Patient/ghost"):
        with db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", "ghost", {"resourceType": "Patient"}, "PUT", ghost)


def test_database_conflicts_leave_the_unit_of_work_as_conflict_errors(db):
    """A unique violation the repository did not expect (here: a second alias row) is
    translated when the unit of work ends: ConflictError, cause kept, nothing written."""
    s = save(db, "Patient", "r8", {"resourceType": "Patient"})
    insert = f"INSERT INTO resource_aliases (alias, res_pk) VALUES ('urn:uuid:r8', {s.pk})"
    with pytest.raises(ConflictError, match="retry") as err:
        with db.unit_of_work(write=True) as uow:
            uow.conn.exec_driver_sql(insert)
            uow.conn.exec_driver_sql(insert)
    assert err.value.__cause__ is not None
    with db.unit_of_work() as uow:
        assert uow.resources.resolve_aliases(["urn:uuid:r8"]) == {}


def test_aliases_keep_their_first_target(db):
    a = save(db, "Patient", "al1", {"resourceType": "Patient"})
    b = save(db, "Patient", "al2", {"resourceType": "Patient"})
    with db.unit_of_work(write=True) as uow:
        uow.resources.add_aliases([("urn:uuid:al", a.pk)])
        uow.resources.add_aliases([("urn:uuid:al", b.pk), ("urn:oid:1.2", b.pk)])
        uow.commit()
    with db.unit_of_work() as uow:
        assert uow.resources.resolve_aliases(["urn:uuid:al", "urn:oid:1.2", "urn:x"]) == \
            {"urn:uuid:al": "Patient/al1", "urn:oid:1.2": "Patient/al2"}


def test_history_since_and_paging(db):
    for i in range(5):
        save(db, "Basic", f"h{i}", {"resourceType": "Basic", "code": {"text": str(i)}})
    with db.unit_of_work() as uow:
        total, rows = uow.resources.history("Basic", count=2)
        assert total == 5 and len(rows) == 2
        _, rest = uow.resources.history("Basic", count=10, offset=2)
        assert len(rest) == 3
        assert {r.resource_id for r in rows} | {r.resource_id for r in rest} == \
            {f"h{i}" for i in range(5)}
        since = rows[1].last_updated
        total_since, _ = uow.resources.history("Basic", since=since)
        assert total_since == 2
        assert sorted(s.resource_id for s in uow.resources.iter_current("Basic", batch=2)) == \
            [f"h{i}" for i in range(5)]


def test_index_hook_gets_the_last_version_of_every_change_in_the_transaction(db_url):
    recorder = Recorder()
    database = Database(db_url, indexer=recorder)
    with database.unit_of_work(write=True) as uow:
        first = uow.resources.save("Patient", "ix1", {"resourceType": "Patient"}, "PUT", None)
        uow.resources.save("Patient", "ix1", {"resourceType": "Patient", "gender": "male"},
                           "PUT", first)
        uow.resources.save("Patient", "ix2", {"resourceType": "Patient"}, "PUT", None)
        gone = uow.resources.save("Patient", "ix3", {"resourceType": "Patient"}, "PUT", None)
        uow.resources.save("Patient", "ix3", None, "DELETE", gone)
        assert recorder.seen == []  # rows are extracted at flush, in bulk
        uow.commit()
    database.dispose()
    assert [(t, r["id"], r.get("gender")) for t, r in recorder.seen] == [
        ("Patient", "ix1", "male"), ("Patient", "ix2", None)]


def test_schema_matches_tables(db):
    """The migrated schema is what the table metadata says: tables, columns, types,
    nullability, indexes, constraints and (PostgreSQL) the binary collation of search text."""
    assert differences(db.engine) == []


def test_schema_check_sees_a_drifted_schema(db):
    postgres = db.dialect == "postgresql"
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_idx_uri_pk")
        conn.exec_driver_sql("CREATE INDEX ix_stray ON idx_uri (param)")
        if postgres:
            conn.exec_driver_sql('ALTER TABLE idx_uri ALTER COLUMN value TYPE varchar '
                                 'COLLATE "default"')
    try:
        found = differences(db.engine)
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_stray")
            conn.exec_driver_sql("CREATE INDEX ix_idx_uri_pk ON idx_uri (res_pk, param)")
            if postgres:
                conn.exec_driver_sql('ALTER TABLE idx_uri ALTER COLUMN value TYPE varchar '
                                     'COLLATE "C"')
    expected = ["missing from the database: index ix_idx_uri_pk on idx_uri(res_pk, param)",
                "only in the database: index ix_stray on idx_uri(param)"]
    if postgres:
        expected.append("collation of idx_uri.value: database None, metadata 'C'")
    assert sorted(found) == sorted(expected)
    assert differences(db.engine) == []


def test_create_many_is_one_insert_per_table_and_keys_match_their_resources(db):
    """One multi-row INSERT for the resource rows (RETURNING's row order is not relied on:
    each key is matched to its resource by type and id) and one for the versions."""
    items = [(t, f"cm-{t}-{i}", {"resourceType": t, "active": i % 2 == 0}, "POST")
             for i in range(120) for t in ("Patient", "Group")]   # over one chunk of 100
    with statements_run(db.engine) as statements:
        with db.unit_of_work(write=True) as uow:
            stored = uow.resources.create_many(items)
            uow.commit()
    inserts = [s for s in statements if s.startswith("INSERT INTO resources ")]
    assert len(inserts) == 3, inserts   # 240 rows in chunks of 100
    assert len({s.pk for s in stored}) == len(items)
    with db.unit_of_work() as uow:
        for s, (t, rid, res, _) in zip(stored, items):
            assert (s.resource_type, s.resource_id, s.version) == (t, rid, 1)
            back = uow.resources.read(t, rid)
            assert back.pk == s.pk and back.resource()["active"] == res["active"]


def test_a_duplicate_inside_one_create_many_is_a_conflict_and_writes_nothing(db):
    before = versions(db)
    with pytest.raises(ConflictError, match="retry"):
        with db.unit_of_work(write=True) as uow:
            uow.resources.create_many([("Basic", "dup-1", {"resourceType": "Basic"}, "POST"),
                                       ("Basic", "dup-1", {"resourceType": "Basic"}, "POST")])
    assert versions(db) == before
    with db.unit_of_work() as uow:
        assert uow.resources.read("Basic", "dup-1") is None


def test_read_keys_many_reads_every_type_in_one_statement(db):
    save(db, "Patient", "rk-1", {"resourceType": "Patient"})
    save(db, "Patient", "rk-2", {"resourceType": "Patient", "gender": "male"})
    save(db, "Group", "rk-1", {"resourceType": "Group"})
    save(db, "Group", "rk-3", {"resourceType": "Group"})
    with db.unit_of_work(write=True) as uow:
        uow.resources.save("Group", "rk-3", None, "DELETE", uow.resources.read("Group", "rk-3"))
        uow.commit()
    with statements_run(db.engine) as statements:
        with db.unit_of_work(write=True) as uow:
            got = uow.resources.read_keys_many(
                {"Patient": ["rk-1", "rk-2", "rk-missing", "rk-1"], "Group": ["rk-1", "rk-3"],
                 "Basic": ["rk-1"]}, for_update=True)
            # many ids: chunks of 500, same answers as read_keys type by type
            many = uow.resources.read_keys_many(
                {"Patient": [f"x{i}" for i in range(600)] + ["rk-2"], "Group": ["rk-1"]})
    assert sorted(got) == [("Group", "rk-1"), ("Group", "rk-3"), ("Patient", "rk-1"),
                           ("Patient", "rk-2")]
    assert got[("Group", "rk-3")].deleted and got[("Group", "rk-3")].version == 2
    assert got[("Patient", "rk-2")].resource()["gender"] == "male"
    assert sorted(many) == [("Group", "rk-1"), ("Patient", "rk-2")]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # one read (PostgreSQL: plus one FOR UPDATE of the resource rows), then two chunks
    assert len(selects) == (2 if db.dialect == "postgresql" else 1) + 2, selects
