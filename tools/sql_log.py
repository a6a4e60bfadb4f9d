"""The SQL statements an engine runs inside a block, for tests that count round trips."""
from __future__ import annotations

import contextlib

from sqlalchemy import event


@contextlib.contextmanager
def statements_run(engine):
    """Yields a list that fills with the text of every statement `engine` runs in the block."""
    run: list[str] = []

    def record(conn, cursor, statement, *args):
        run.append(statement)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield run
    finally:
        event.remove(engine, "before_cursor_execute", record)
