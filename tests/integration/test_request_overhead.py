"""Per-request database overhead (issue 16), both databases: reads and searches run in read-only
units of work (on PostgreSQL autocommitted: no BEGIN / COMMIT), a write is one transaction,
and the conformance catch-up asks the database only when something could have changed: at once
after a conformance write through any app of this process (or a fork of it), else after the
interval (another server's writes), always when forced."""
from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import event

from fhirsvc import create_app
from fhirsvc.services.conformance import ChangeSignal, ConformanceSync

FHIR = "application/fhir+json"


class Statements:
    """Statements and server transactions the app's engine sends while active."""

    def __init__(self, engine):
        self.engine = engine
        self.sql: list[str] = []
        self.transactions = 0

    def _stmt(self, conn, cursor, statement, *args):
        self.sql.append(statement)

    def _begin(self, conn):
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.transactions += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._stmt)
        event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._stmt)
        event.remove(self.engine, "begin", self._begin)

    def catch_ups(self) -> int:
        return sum(1 for s in self.sql if "max(resources.last_updated)" in s)


@pytest.fixture(scope="module")
def patient(app):
    r = app.test_client().post("/fhir/Patient", data=json.dumps({
        "resourceType": "Patient", "name": [{"family": "Overhead"}]}), content_type=FHIR)
    assert r.status_code == 201
    return r.get_json()["id"]


def test_read_only_unit_of_work(runtime):
    db = runtime.db
    with pytest.raises(ValueError):
        db.unit_of_work(write=True, read_only=True)
    with db.unit_of_work(read_only=True) as uow:
        assert uow.resources.read("Patient", "nobody-here") is None
        if db.dialect == "postgresql":
            # no transaction open on the server between statements (autocommit)
            from psycopg import pq
            status = uow.conn.connection.dbapi_connection.info.transaction_status
            assert status == pq.TransactionStatus.IDLE
        with pytest.raises(RuntimeError, match="does not commit"):
            uow.commit()
    # the pooled connection is back to transactions for the next unit of work
    with db.unit_of_work(write=True) as uow:
        assert uow.conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
        if db.dialect == "postgresql":
            uow.resources.read("Patient", "nobody-here")
            from psycopg import pq
            status = uow.conn.connection.dbapi_connection.info.transaction_status
            assert status == pq.TransactionStatus.INTRANS


def test_reads_and_searches_open_no_transaction_on_postgresql(client, runtime, patient):
    client.get("/fhir/Patient?family=Overhead")         # warm (a first catch-up)
    with Statements(runtime.db.engine) as seen:
        assert client.get(f"/fhir/Patient/{patient}").status_code == 200
        assert client.get(f"/fhir/Patient/{patient}/_history/1").status_code == 200
        assert client.get("/fhir/Patient?family=Overhead").get_json()["total"] >= 1
    if runtime.db.dialect == "postgresql":
        assert seen.transactions == 0, seen.sql
    assert len(seen.sql) >= 3


def test_a_write_is_one_transaction_with_its_audit_and_provenance(client, runtime, patient):
    client.get("/fhir/Patient?family=Overhead")
    with Statements(runtime.db.engine) as seen:
        r = client.post("/fhir/Observation", data=json.dumps({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
            "subject": {"reference": f"Patient/{patient}"}}), content_type=FHIR)
        assert r.status_code == 201, r.get_data()[:300]
    inserts = [s for s in seen.sql if s.startswith("INSERT INTO audit_events")]
    assert seen.transactions == 1 and len(inserts) == 1, seen.sql
    # the Observation and its Provenance, in that one transaction
    assert sum(1 for s in seen.sql if s.startswith("INSERT INTO resources ")) == 2, seen.sql


def test_the_catch_up_is_skipped_while_nothing_can_have_changed(client, runtime):
    sync = runtime.services.conformance
    client.get("/fhir/Patient?family=Overhead")
    sync.interval = 3600.0                               # no time-bounded look in this test
    try:
        with Statements(runtime.db.engine) as seen:
            for _ in range(5):
                assert client.get("/fhir/Patient?family=Overhead").status_code == 200
        assert seen.catch_ups() == 0
        # a conformance write through this app: the next request looks, and finds it
        sp = {"resourceType": "SearchParameter", "url": "urn:ex:sp:overhead-nick",
              "name": "overheadnick", "status": "active", "code": "overheadnick",
              "base": ["Patient"], "type": "string", "expression": "Patient.name.text",
              "description": "nickname"}
        assert client.post("/fhir/SearchParameter", data=json.dumps(sp),
                           content_type=FHIR).status_code == 201
        with Statements(runtime.db.engine) as seen:
            r = client.get("/fhir/Patient?overheadnick=x",
                           headers={"Prefer": "handling=strict"})
        assert r.status_code == 200 and seen.catch_ups() == 1
    finally:
        sync.interval = runtime.config.conformance_check_interval


def test_another_servers_write_applies_within_the_interval(config, runtime):
    now = [1000.0]
    other_app = create_app(config)                      # its own registries, same database
    other = other_app.extensions["fhirsvc.runtime"]
    try:
        sync = ConformanceSync(other.db, other.definitions, other.search_registry,
                               interval=1.0, clock=lambda: now[0])
        sync._signal = ChangeSignal()                    # another machine: no shared signal
        sync(force=True)
        vs_url = "urn:ex:vs:overhead-colours"
        with runtime.db.unit_of_work(write=True) as uow:   # stored by "another server"
            uow.resources.create_many([("ValueSet", "overhead-vs", {
                "resourceType": "ValueSet", "url": vs_url, "status": "active",
                "expansion": {"timestamp": "2024-01-01T00:00:00Z",
                              "contains": [{"system": "urn:ex:c", "code": "red"}]}}, "POST")])
            uow.commit()
        checks = sync.checks
        now[0] += 0.5
        assert sync() == 0 and sync.checks == checks     # within the interval: not asked
        assert other.definitions.state.valuesets.get(vs_url) is None
        now[0] += 0.6                                     # 1.1 s after the last look
        assert sync() == 1 and sync.checks == checks + 1
        assert other.definitions.state.valuesets.get(vs_url) is not None
        assert sync() == 0 and sync.checks == checks + 1  # looked just now
        assert sync(force=True) == 0 and sync.checks == checks + 2
    finally:
        other.close()


def test_interval_zero_asks_before_every_request(runtime):
    sync = ConformanceSync(runtime.db, runtime.definitions, runtime.search_registry,
                           interval=0.0)
    sync()
    before = sync.checks
    sync()
    sync()
    assert sync.checks == before + 2


def test_the_signal_crosses_a_fork():
    """gunicorn forks its workers after the app is built: a bump in one is seen by all."""
    signal = ChangeSignal()
    start = signal.value()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            signal.bump()
            os.write(w, b"1")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(r)
    bumped = signal.value()
    assert bumped != start
    signal.bump()                                          # never the same value twice
    assert signal.value() not in (start, bumped)
