"""The SQLite writer queue (storage.write_gate) and bulk saves of updates (Repository.save_many),
on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest

from fhirsvc.storage import ConflictError, Database
from fhirsvc.storage.write_gate import WriteGate


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def test_gate_hands_over_in_arrival_order():
    gate = WriteGate()
    order: list[int] = []
    gate.acquire()
    threads = []
    for n in range(5):
        t = threading.Thread(target=lambda n=n: (gate.acquire(), order.append(n),
                                                 gate.release()))
        t.start()
        threads.append(t)
        while gate.waits < n + 1:   # each one queued before the next starts
            time.sleep(0.001)
    gate.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4]


def test_gate_is_reentrant_and_owned():
    gate = WriteGate()
    with gate:
        with gate:          # the same thread again: no wait on itself
            pass
        errors = []
        t = threading.Thread(target=lambda: _release(gate, errors))
        t.start()
        t.join(10)
        assert errors and "does not hold" in errors[0]
    with gate:              # free again after the outer release
        pass


def _release(gate, errors):
    try:
        gate.release()
    except RuntimeError as exc:
        errors.append(str(exc))


def test_gate_wait_times_out_as_conflict():
    gate = WriteGate(timeout=0.05)
    gate.acquire()
    failures = []

    def other():
        try:
            gate.acquire()
        except ConflictError as exc:
            failures.append(exc)
    t = threading.Thread(target=other)
    t.start()
    t.join(10)
    gate.release()
    assert len(failures) == 1 and "busy" in str(failures[0])
    with gate:              # the one that gave up left no trace in the queue
        pass


_OTHER_PROCESS = """
import sys, time
from fhirsvc.storage import ConflictError
from fhirsvc.storage.write_gate import WriteGate
gate = WriteGate(timeout=float(sys.argv[2]), lock_path=sys.argv[1])
print("ready", flush=True)
t = time.monotonic()
try:
    gate.acquire()
except ConflictError:
    print("busy")
else:
    print("acquired", round(time.monotonic() - t, 3))
    gate.release()
"""


def _other_process(path, timeout):
    import subprocess
    import sys
    return subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS, str(path), str(timeout)],
                            stdout=subprocess.PIPE, text=True)


def test_gate_orders_writers_of_other_processes(tmp_path):
    """The lock file: a writer of another process waits while this one holds the gate (and
    gives up as busy after its timeout), and gets it as soon as it is let go."""
    path = tmp_path / "fhirsvc.db-writegate"
    gate = WriteGate(lock_path=str(path))
    with gate:
        assert _other_process(path, 0.3).communicate(timeout=60)[0].split() == [
            "ready", "busy"]
        waiting = _other_process(path, 30)
        assert waiting.stdout.readline().strip() == "ready"
        time.sleep(1.0)                   # it is polling the lock file now
    out = waiting.communicate(timeout=60)[0].split()
    assert out[0] == "acquired" and float(out[1]) >= 0.5
    with gate:                            # and let go of it again
        pass


def test_sqlite_database_gate_has_a_lock_file(db, tmp_path):
    if db.dialect != "sqlite":
        assert db.write_gate is None
        return
    assert db.write_gate._file is not None
    assert db.write_gate._file.path.endswith(".db-writegate")
    assert Database("sqlite://").write_gate._file is None   # in memory: one process only


def test_concurrent_writers_all_succeed(db):
    """Eight threads writing at once: on SQLite they queue at the gate (no busy error, every
    write kept); on PostgreSQL there is no gate."""
    assert (db.write_gate is not None) == (db.dialect == "sqlite")
    errors: list = []
    stamp = str(time.time_ns())

    def writer(n):
        try:
            for i in range(5):
                with db.unit_of_work(write=True) as uow:
                    uow.resources.create_many([("Patient", f"wg-{stamp}-{n}-{i}",
                                                {"resourceType": "Patient"}, "PUT")])
                    time.sleep(0.002)    # hold the write a moment: the others must wait
                    uow.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with db.unit_of_work() as uow:
        found = uow.resources.read_keys("Patient", [f"wg-{stamp}-{n}-{i}" for n in range(8)
                                                    for i in range(5)])
    assert len(found) == 40
    if db.write_gate is not None:
        assert db.write_gate.waits > 0


def test_gate_released_when_a_write_fails(db):
    with pytest.raises(ZeroDivisionError):
        with db.unit_of_work(write=True):
            1 / 0
    done = threading.Event()

    def other():
        with db.unit_of_work(write=True) as uow:
            uow.commit()
        done.set()
    threading.Thread(target=other).start()
    assert done.wait(10)


def _create(db, rid, **fields):
    with db.unit_of_work(write=True) as uow:
        (s,) = uow.resources.create_many([("Patient", rid, {"resourceType": "Patient",
                                                            **fields}, "PUT")])
        uow.commit()
    return s


def test_save_many_stores_new_versions(db):
    stamp = str(time.time_ns())
    a, b = _create(db, f"sm-{stamp}-a"), _create(db, f"sm-{stamp}-b")
    with db.unit_of_work(write=True) as uow:
        cur = uow.resources.read_keys("Patient", [a.resource_id, b.resource_id],
                                      for_update=True)
        out = uow.resources.save_many([
            ("Patient", a.resource_id, {"resourceType": "Patient", "gender": "male"}, "PUT",
             cur[a.resource_id]),
            ("Patient", b.resource_id, None, "DELETE", cur[b.resource_id])])
        uow.commit()
    assert [(s.version, s.deleted) for s in out] == [(2, False), (2, True)]
    with db.unit_of_work() as uow:
        ra, rb = uow.resources.read("Patient", a.resource_id), \
            uow.resources.read("Patient", b.resource_id)
    assert ra.version == 2 and ra.resource()["gender"] == "male"
    assert ra.resource()["meta"]["versionId"] == "2" and ra.last_updated > a.last_updated
    assert rb.deleted and rb.version == 2


def test_save_many_refuses_a_stale_version(db):
    stamp = str(time.time_ns())
    a, b = _create(db, f"st-{stamp}-a"), _create(db, f"st-{stamp}-b")
    with db.unit_of_work(write=True) as uow:          # b changes after it was read
        uow.resources.save("Patient", b.resource_id, {"resourceType": "Patient"}, "PUT", b)
        uow.commit()
    with pytest.raises(ConflictError) as exc:
        with db.unit_of_work(write=True) as uow:
            uow.resources.save_many([
                ("Patient", a.resource_id, {"resourceType": "Patient"}, "PUT", a),
                ("Patient", b.resource_id, {"resourceType": "Patient"}, "PUT", b)])
            uow.commit()
    assert b.resource_id in str(exc.value)
    with db.unit_of_work() as uow:                     # nothing of it was kept
        assert uow.resources.read("Patient", a.resource_id).version == 1
        assert uow.resources.read("Patient", b.resource_id).version == 2
