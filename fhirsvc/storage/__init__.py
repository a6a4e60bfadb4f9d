"""Storage: every SQL statement and every SQLite / PostgreSQL difference (docs/storage.md).

    db = Database(url, indexer=Indexer(registry))    # fhirsvc.search.Indexer: index rows
    with db.unit_of_work(write=True) as uow:
        uow.resources   versions, history, aliases        (repository)
        uow.index       search index rows                  (index)
        uow.search      parsed criteria -> pks, includes    (search_repository)
        uow.commit()
"""
from __future__ import annotations

from sqlalchemy.engine import Engine

from . import dialect, replica
from .dialect import make_engine, normalise_url
from .write_gate import WriteGate
from .checkpoint import WalCheckpointer
from .errors import ConflictError, NotFoundError, StatementTimeoutError, StorageError
from .index import NullIndexer
from .repository import Repository, Stored, instant_to_micros, micros_to_instant
from .unit_of_work import UnitOfWork


class Database:
    def __init__(self, url: str, indexer=None, *, replica_url: str | None = None,
                 pgbouncer: bool = False, pool_size: int | None = None,
                 statement_timeout: float = 0):
        self.url = normalise_url(url)
        self.statement_timeout = statement_timeout   # seconds per statement; 0 = none
        self.engine: Engine = make_engine(self.url, pgbouncer=pgbouncer, pool_size=pool_size,
                                          statement_timeout=statement_timeout)
        # SQLite: this process's writers queue here instead of polling the database lock
        # and, through a lock file beside the database, behind other processes' writers
        sqlite = self.engine.dialect.name == "sqlite"
        gate_file = _gate_file(self.engine) if sqlite else None
        self.write_gate = WriteGate(lock_path=gate_file) if sqlite else None
        # SQLite file: WAL checkpoints by a thread of this process, not by the commit that
        # crosses the mark while holding the gate (storage/checkpoint.py)
        self.checkpointer = WalCheckpointer(self.engine, self.engine.url.database) \
            if gate_file else None
        # searches may run here (storage.replica: read-your-writes by WAL position)
        self.replica_engine: Engine | None = None
        if replica_url:
            if self.engine.dialect.name != "postgresql":
                raise ValueError("A read replica needs a PostgreSQL primary")
            self.replica_engine = make_engine(normalise_url(replica_url), pgbouncer=pgbouncer,
                                              pool_size=pool_size,
                                              statement_timeout=statement_timeout)
        # rows(rtype, resource) -> index rows by parameter type (fhirsvc.search.Indexer)
        self.indexer = indexer or NullIndexer()
        self.replica_reads = 0   # searches answered by the replica / by the primary instead
        self.replica_fallbacks = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self, write: bool = False, replica: bool = False,
                     read_only: bool = False) -> UnitOfWork:
        """`replica`: a read that may run on the read replica when it has caught up.
        `read_only`: reads only, autocommitted on PostgreSQL (storage.unit_of_work)."""
        return UnitOfWork(self, write, replica=replica and not write, read_only=read_only)

    def read_connection(self):
        """A connection for a replica-eligible read: the replica's when it has replayed every
        write committed so far (storage.replica), else the primary's."""
        if self.replica_engine is None:
            return self.engine.connect()
        with self.engine.connect() as primary:
            position = replica.primary_position(primary)
        conn = self.replica_engine.connect()
        try:
            ok = replica.caught_up(conn, position)
            conn.rollback()
        except Exception:
            conn.close()
            raise
        if ok:
            self.replica_reads += 1
            return conn
        conn.close()
        self.replica_fallbacks += 1
        return self.engine.connect()

    def analyze(self, vacuum: bool = True) -> None:
        """Planner statistics after a bulk load (and VACUUM on PostgreSQL)."""
        dialect.analyze(self.engine, vacuum)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        self.engine.dispose()
        if self.replica_engine is not None:
            self.replica_engine.dispose()


def _gate_file(engine: Engine) -> str | None:
    """The cross-process write gate's lock file of a SQLite database file (none in memory)."""
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return f"{path}-writegate"


__all__ = ["ConflictError", "Database", "NotFoundError", "Repository", "StatementTimeoutError",
           "StorageError", "Stored",
           "UnitOfWork", "instant_to_micros", "make_engine", "micros_to_instant"]
