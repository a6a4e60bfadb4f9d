"""Unit of work: one database transaction, the repository bound to it, index writes batched.

    with db.unit_of_work(write=True) as uow:
        stored = uow.resources.save(...)
        uow.commit()

Leaving the block without `commit()` (or with an exception) rolls everything back.
"""
from __future__ import annotations

from .database import advisory_lock
from .repository import Repository


class UnitOfWork:
    def __init__(self, db, write: bool):
        self.db = db
        self.write = write
        self.conn = None
        self._tx = None
        self._pending_index: list[tuple[int, str, dict | None]] = []

    def __enter__(self) -> "UnitOfWork":
        conn = self.db.engine.connect()
        if self.write and conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        self.conn = conn
        self._tx = conn.begin()
        self.resources = Repository(conn, on_change=self._queue_index)
        return self

    def _queue_index(self, pk: int, rtype: str, resource: dict | None) -> None:
        self._pending_index.append((pk, rtype, resource))

    def lock(self, key: str) -> None:
        """Serialise with other transactions locking the same key (conditional create)."""
        advisory_lock(self.conn, key)

    def flush_index(self) -> None:
        """Write search index rows for everything saved so far, in bulk."""
        if self._pending_index:
            pending, self._pending_index = self._pending_index, []
            self.db.indexer.replace(self.conn, pending)

    def commit(self) -> None:
        self.flush_index()
        self._tx.commit()
        self._tx = None

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
        finally:
            self.conn.close()
