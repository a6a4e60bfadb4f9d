"""A request whose client hangs up does not keep its database work running (issue 9: a POST
_search outlived its worker by minutes). `storage.dialect.cancel_statements` cancels what a
thread runs (PostgreSQL cancel request, SQLite interrupt); `serving.Abandonment` calls it for
the request's thread once the client's socket reads end of file. Real sockets, both
databases."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import text

from fhirsvc.serving import Abandonment, client_gone
from fhirsvc.storage import Database, StatementTimeoutError
from fhirsvc.storage.dialect import cancel_statements

SLOW = {"postgresql": "SELECT pg_sleep(20)",
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                  "WHERE i < 3000000000) SELECT count(*) FROM n"}
QUICK = {"postgresql": "SELECT pg_sleep(0.6)",
         "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                   "WHERE i < 300000) SELECT count(*) FROM n"}


@pytest.fixture()
def db(db_url):
    database = Database(db_url)       # no statement timeout: only the cancel can stop it
    yield database
    database.dispose()


def _run(db, sql: str) -> str:
    try:
        with db.unit_of_work() as uow:
            uow.conn.execute(text(sql)).all()
        return "finished"
    except StatementTimeoutError:
        return "cancelled"


def test_cancel_statements_stops_another_threads_statement(db):
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(_run(db, SLOW[db.dialect])))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.5)
    assert cancel_statements(t.ident) >= 1
    t.join(timeout=10)
    assert out == ["cancelled"] and time.monotonic() - t0 < 8
    assert _run(db, "SELECT 1") == "finished"         # the pool's connection is fine after
    assert cancel_statements(t.ident) == 0            # nothing held by a finished thread


def _request(db, sql: str, hang_up: bool) -> tuple[str, float]:
    server, client = socket.socketpair()
    result: list[str] = []

    def app(environ, start_response):
        result.append(_run(db, sql))
        start_response("200 OK", [])
        return [b""]
    served = Abandonment(app, cancel_statements, tick=0.1)
    t = threading.Thread(target=lambda: served({"gunicorn.socket": server},
                                               lambda *a: None))
    t0 = time.monotonic()
    t.start()
    try:
        time.sleep(0.3)
        if hang_up:
            client.close()
        t.join(timeout=15)
        return result[0], time.monotonic() - t0
    finally:
        server.close()
        if not hang_up:
            client.close()


def test_a_client_that_hangs_up_cancels_the_requests_statements(db):
    outcome, took = _request(db, SLOW[db.dialect], hang_up=True)
    assert outcome == "cancelled" and took < 8


def test_a_client_still_waiting_is_not_cancelled(db):
    outcome, _took = _request(db, QUICK[db.dialect], hang_up=False)
    assert outcome == "finished"


def test_client_gone_reads_nothing_of_a_pending_body():
    server, client = socket.socketpair()
    try:
        client.sendall(b"body bytes")
        assert not client_gone(server)
        assert server.recv(100) == b"body bytes"      # the peek consumed nothing
        assert not client_gone(server)
        client.close()
        assert client_gone(server)
    finally:
        server.close()
