"""Unit of work: one database transaction and the repositories bound to it.

    with db.unit_of_work(write=True) as uow:
        stored = uow.resources.save(...)      # versions (fhirsvc.storage.repository)
        uow.search.match(criteria)            # search (fhirsvc.storage.search_repository)
        uow.jobs.claim(...)                   # background jobs (fhirsvc.storage.jobs)
        uow.hl7v2.find(...)                   # HL7 v2 message log (fhirsvc.storage.hl7v2_log)
        uow.audit.append(rows)                # audit trail (fhirsvc.storage.security)
        uow.commit()                          # index rows written first (uow.index)

Leaving the block without `commit()` (or with an exception) rolls everything back. A database
error that means a concurrent transaction got there first leaves the block as ConflictError.

    with db.unit_of_work(read_only=True) as uow:   # reads only: no BEGIN / COMMIT round trips
        uow.resources.read(...)                    # on PostgreSQL; commit() is refused

A read-only unit of work is for reads that need no more than statement-level consistency (a
read by id, a search, the conformance catch-up): on PostgreSQL its statements are autocommitted
(storage.dialect.for_statements), so it must never write.
"""
from __future__ import annotations

from . import dialect
from .endpoints import Endpoints
from .errors import ConflictError, StatementTimeoutError
from .hl7v2_log import MessageLog
from .export_queries import ExportReader
from .index import IndexRepository
from .jobs import Jobs
from .repository import Repository
from .search_repository import SearchRepository
from .rate_limits import RateLimits
from .security import AuditTrail, Clients
from .users import Users


class UnitOfWork:
    def __init__(self, db, write: bool, replica: bool = False, read_only: bool = False):
        if write and read_only:
            raise ValueError("a unit of work is either for writing or read-only")
        self.db = db
        self.write = write
        self.replica = replica
        self.read_only = read_only
        self.conn = None
        self._tx = None
        self._pending_index: list[tuple[int, str, dict | None]] = []
        # keys created by this unit of work since the last flush: no index rows to delete
        self._fresh: set[int] = set()

    def __enter__(self) -> "UnitOfWork":
        self._gate = getattr(self.db, "write_gate", None) if self.write else None
        if self._gate is not None:
            self._gate.acquire()   # SQLite: one writer of this process at a time, in order
        try:
            conn = self.db.read_connection() if self.replica else self.db.engine.connect()
            if self.write:
                conn = dialect.for_writing(conn)
            elif self.read_only:
                conn = dialect.for_statements(conn)
            self.conn = conn
            if not conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                self._tx = conn.begin()
        except BaseException:
            if self._gate is not None:
                self._gate.release()
            raise
        self.resources = Repository(conn, on_change=self._queue_index)
        self.index = IndexRepository(conn, self.db.indexer)
        self.search = SearchRepository(conn)
        self.jobs = Jobs(conn)
        self.endpoints = Endpoints(conn)  # remote FHIR systems (fhirsvc/remote)
        self.hl7v2 = MessageLog(conn)
        self.exports = ExportReader(conn)  # Bulk Data / registry reads
        self.clients = Clients(conn)    # SMART clients, used jti (fhirsvc/security)
        self.audit = AuditTrail(conn)   # the append-only audit trail
        self.rate_limits = RateLimits(conn)  # shared rate limit buckets (fhirsvc/security)
        self.users = Users(conn)        # people who log in to the pages (security/users.py)
        return self

    def _queue_index(self, pk: int, rtype: str, resource: dict | None,
                     created: bool = False) -> None:
        self._pending_index.append((pk, rtype, resource))
        if created:
            self._fresh.add(pk)

    def lock(self, key: str) -> None:
        """Serialise with other transactions locking the same key (conditional create)."""
        dialect.advisory_lock(self.conn, key)

    def lock_many(self, keys) -> None:
        """lock() for several keys at once (one round trip, no deadlock between writers)."""
        dialect.advisory_locks(self.conn, list(keys))

    @property
    def exclusive(self) -> bool:
        """A write unit of work that no other writer can overlap from its first statement
        (SQLite: BEGIN IMMEDIATE), so what it read cannot change before it commits and a
        look taken again after lock() finds nothing new. PostgreSQL: False (row and advisory
        locks serialise writers only from the moment they are taken)."""
        return self.write and dialect.exclusive_writes(self.conn)

    def flush_index(self) -> None:
        """Write search index rows for everything saved so far, in bulk."""
        if self._pending_index:
            pending, self._pending_index = self._pending_index, []
            fresh, self._fresh = self._fresh, set()
            self.index.replace(pending, fresh=fresh)

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work does not commit (it must not write)")
        self.flush_index()
        self._tx.commit()
        self._tx = None
        checkpointer = getattr(self.db, "checkpointer", None)
        if checkpointer is not None:
            checkpointer.committed()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.rollback()
        finally:
            try:
                self.conn.close()
            finally:
                if self._gate is not None:
                    self._gate.release()
        if exc is not None and dialect.timed_out(exc):
            raise StatementTimeoutError(
                f"A database statement ran longer than the {self.db.statement_timeout:g} s "
                "limit and was cancelled; nothing was applied. Narrow the request (fewer "
                "parameters, a smaller _count, fewer includes)") from exc
        reason = dialect.conflict_reason(exc) if exc is not None else None
        if reason is not None:
            raise ConflictError(f"The request was not applied: {reason}; retry the "
                                "request") from exc
