"""The per-statement timeout (FHIRSVC_STATEMENT_TIMEOUT): a runaway statement is cancelled
on both databases, the unit of work rolls back, and the API answers 503 `timeout` instead of
holding a worker. Maintenance (ANALYZE) is not bounded."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from fhirsvc.storage import Database, StatementTimeoutError
from fhirsvc.storage_outcomes import storage_outcome

# a statement that runs for many seconds on either database
SLOW = {"postgresql": "SELECT pg_sleep(5)",
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                  "WHERE i < 1000000000) SELECT count(*) FROM n"}


def test_runaway_statement_is_cancelled(db_url):
    db = Database(db_url, statement_timeout=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(StatementTimeoutError) as exc:
            with db.unit_of_work() as uow:
                uow.conn.execute(text(SLOW[db.dialect])).all()
        assert time.monotonic() - t0 < 3
        outcome = storage_outcome(exc.value)
        assert outcome.status == 503 and outcome.issues[0].code == "timeout"
        assert "0.3 s" in outcome.issues[0].message
        # the connection is usable afterwards, quick statements run
        with db.unit_of_work() as uow:
            assert uow.resources.count() >= 0
        db.analyze(vacuum=False)
    finally:
        db.dispose()


def test_no_timeout_by_default_for_maintenance_tools(db_url):
    db = Database(db_url)
    try:
        with db.unit_of_work() as uow:
            quick = SLOW[db.dialect].replace("pg_sleep(5)", "pg_sleep(0.5)").replace(
                "1000000000", "200000")
            uow.conn.execute(text(quick)).all()
    finally:
        db.dispose()
