"""Repository and unit of work on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.storage import Database
from fhirsvc.storage.tables import resource_versions, resources


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
    with db.unit_of_work() as uow:
        before = uow.conn.execute(select(func.count()).select_from(resource_versions)).scalar()
    with pytest.raises(RuntimeError):
        with db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", "r3", {"resourceType": "Patient"}, "PUT", None)
            uow.resources.save("Patient", "r4", {"resourceType": "Patient"}, "PUT", None)
            raise RuntimeError("crash before commit")
    with db.unit_of_work() as uow:
        after = uow.conn.execute(select(func.count()).select_from(resource_versions)).scalar()
        assert uow.resources.read("Patient", "r3") is None
    assert after == before


def test_uncommitted_unit_of_work_rolls_back(db):
    with db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "r5", {"resourceType": "Patient"}, "PUT", None)
    with db.unit_of_work() as uow:
        assert uow.resources.read("Patient", "r5") is None


def test_duplicate_create_is_a_conflict(db):
    save(db, "Patient", "r6", {"resourceType": "Patient"})
    with pytest.raises(OperationOutcomeError) as exc:
        with db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", "r6", {"resourceType": "Patient"}, "PUT", None)
    assert exc.value.status == 409


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


def test_index_hook_gets_every_change_in_the_transaction(db_url):
    seen = []

    class Recorder:
        def replace(self, conn, items):
            seen.extend((rtype, res is None) for _, rtype, res in items)

    database = Database(db_url, indexer=Recorder())
    with database.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "ix1", {"resourceType": "Patient"}, "PUT", None)
        cur = uow.resources.read("Patient", "ix1")
        uow.resources.save("Patient", "ix1", None, "DELETE", cur)
        uow.commit()
    database.dispose()
    assert seen == [("Patient", False), ("Patient", True)]


def test_schema_matches_tables(db):
    with db.unit_of_work() as uow:
        for table in (resources, resource_versions):
            uow.conn.execute(select(func.count()).select_from(table)).scalar()
