"""PostgreSQL pooled connections are pinged only after sitting idle (storage/dialect.py
`_ping_idle`): a connection dropped by the server while idle is replaced at checkout, so the
request after a restart or an idle timeout still succeeds; a connection in use a moment ago is
handed out without the extra round trip `pool_pre_ping` made for every request. (SQLite has no
server to lose.)"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text

from fhirsvc.storage import dialect
from fhirsvc.storage.dialect import make_engine


@pytest.fixture()
def pg_url(pg_databases):
    url = pg_databases.create()
    yield url
    pg_databases.drop(url)


class Pings:
    def __init__(self, engine):
        self.sql: list[str] = []
        # do_ping uses the DBAPI cursor directly: count it at the dialect
        real = engine.dialect.do_ping

        def counted(dbapi_conn):
            self.sql.append("ping")
            return real(dbapi_conn)
        engine.dialect.do_ping = counted


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_dropped_while_idle_is_replaced(pg_url, monkeypatch):
    monkeypatch.setattr(dialect, "IDLE_PING_SECONDS", 0.0)
    engine = make_engine(pg_url, pool_size=1)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        pings = Pings(engine)
        pid = _backend_pid(engine)
        with admin.connect() as conn:     # the server drops the pooled connection
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        new_pid = _backend_pid(engine)    # no error: pinged, found dead, replaced
        assert new_pid != pid and pings.sql == ["ping"]
    finally:
        engine.dispose()
        admin.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url, monkeypatch):
    monkeypatch.setattr(dialect, "IDLE_PING_SECONDS", 60.0)
    engine = make_engine(pg_url, pool_size=1)
    try:
        pings = Pings(engine)
        sent: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
        pids = {_backend_pid(engine) for _ in range(5)}
        assert len(pids) == 1 and pings.sql == [] and len(sent) == 5
    finally:
        engine.dispose()


def test_without_the_ping_the_dropped_connection_would_fail(pg_url, monkeypatch):
    """What the ping is for: the same drop with a connection not pinged fails the request."""
    monkeypatch.setattr(dialect, "IDLE_PING_SECONDS", 60.0)
    engine = make_engine(pg_url, pool_size=1)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        pid = _backend_pid(engine)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(Exception):
            _backend_pid(engine)
        assert _backend_pid(engine) != pid    # and the pool recovers at the next checkout
    finally:
        engine.dispose()
        admin.dispose()
