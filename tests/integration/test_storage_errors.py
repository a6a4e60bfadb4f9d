"""Storage errors reach the client as OperationOutcomes: a create racing another transaction
that holds the same id. PostgreSQL: the second insert waits for the first transaction, then
hits the unique key -> ConflictError -> 409 "retry" (a batch entry fails alone). SQLite:
writers are serialised at BEGIN IMMEDIATE, so the second request simply runs after the first.
"""
from __future__ import annotations

import json
import threading
import time

import pytest

from fhirsvc.storage import ConflictError
from fhirsvc.storage_outcomes import storage_outcome

FHIR = "application/fhir+json"
# sessions of this test database waiting for a lock (other databases on the server may be
# busy with other suites)
WAITING = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
           "AND wait_event_type = 'Lock'")


def patient(pid: str, family: str = "Racer") -> dict:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}


def waiting(runtime) -> int:
    # a transaction of its own: activity statistics are a snapshot per transaction
    with runtime.db.unit_of_work() as uow:
        return uow.conn.exec_driver_sql(WAITING).scalar()


def race(runtime, pid: str, request):
    """Run `request()` in a thread while an open write transaction has created `pid`, and
    commit that transaction once the request waits for it (PostgreSQL) or right away."""
    out = {}
    with runtime.db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", pid, patient(pid, "First"), "PUT", None)
        thread = threading.Thread(target=lambda: out.setdefault("result", request()))
        thread.start()
        if runtime.db.dialect == "postgresql":
            deadline = time.monotonic() + 30
            while waiting(runtime) == 0:
                assert time.monotonic() < deadline, "the racing request never waited"
                time.sleep(0.01)
        uow.commit()
    thread.join(60)
    return out["result"]


def test_racing_update_is_a_409_to_retry_or_runs_after(client, runtime):
    resp = race(runtime, "race-1", lambda: client.put(
        "/fhir/Patient/race-1", data=json.dumps(patient("race-1", "Second")),
        content_type=FHIR))
    body = resp.get_json()
    if runtime.db.dialect == "postgresql":
        assert resp.status_code == 409, body
        assert body["resourceType"] == "OperationOutcome"
        issue = body["issue"][0]
        assert issue["code"] == "conflict" and "retry" in issue["details"]["text"]
        assert "Patient/race-1" in issue["details"]["text"]
    else:
        assert resp.status_code == 200, body
    got = client.get("/fhir/Patient/race-1").get_json()
    assert got["name"][0]["family"] == ("First" if runtime.db.dialect == "postgresql"
                                        else "Second")


def test_batch_entry_that_hits_a_conflict_fails_alone(runtime):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient("race-2", "Second"),
         "request": {"method": "PUT", "url": "Patient/race-2"}},
        {"resource": {"resourceType": "Patient", "name": [{"family": "Other"}]},
         "request": {"method": "POST", "url": "Patient"}}]}
    out = race(runtime, "race-2", lambda: runtime.services.resources.bundle(runtime.context(), bundle))
    first, second = (e["response"] for e in out["entry"])
    if runtime.db.dialect == "postgresql":
        assert first["status"].startswith("409")
        assert first["outcome"]["issue"][0]["code"] == "conflict"
        assert "retry" in first["outcome"]["issue"][0]["details"]["text"]
    else:
        assert first["status"].startswith("200")
    assert second["status"].startswith("201")


def test_storage_errors_map_to_outcomes():
    conflict = storage_outcome(ConflictError("Patient/1 was changed; retry the request"))
    assert (conflict.status, conflict.issues[0].code) == (409, "conflict")
    from fhirsvc.storage import NotFoundError, StorageError
    assert storage_outcome(NotFoundError("Patient/1 is no longer stored")).status == 404
    other = storage_outcome(StorageError("disk full"))
    assert other.status == 500 and "disk full" not in other.issues[0].message


@pytest.fixture(autouse=True)
def _no_leftover_transactions(runtime):
    yield
    # every request of these tests ran to its end: no transaction is left waiting
    if runtime.db.dialect == "postgresql":
        assert waiting(runtime) == 0
