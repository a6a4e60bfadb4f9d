"""Engine set-up: the only place where SQLite and PostgreSQL differ.

SQLite: WAL, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for write transactions so
writers are serialised by the database itself (a read-then-write inside one write transaction
cannot race another writer). PostgreSQL: psycopg 3, READ COMMITTED plus transaction-scoped
advisory locks where a read-then-write must be serialised (conditional create).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` too; the driver is always psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ValueError(f"Unsupported database URL {parsed.render_as_string(hide_password=True)}: "
                     "use sqlite:///path or postgresql+psycopg://user@host:port/db")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control from pysqlite so BEGIN is ours (SQLAlchemy's documented
        # recipe for SQLite transactional behaviour).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def advisory_lock(conn, key: str) -> None:
    """Serialise transactions that use the same key until the current one ends.

    PostgreSQL: pg_advisory_xact_lock. SQLite: write transactions already start with BEGIN
    IMMEDIATE, which holds the database's single write lock, so nothing more is needed.
    """
    if conn.dialect.name == "postgresql":
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                     {"k": int.from_bytes(digest, "big", signed=True)})
