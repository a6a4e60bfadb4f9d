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

from . import dialect
from .dialect import make_engine, normalise_url
from .errors import ConflictError, NotFoundError, StatementTimeoutError, StorageError
from .index import NullIndexer
from .repository import Repository, Stored, instant_to_micros, micros_to_instant
from .unit_of_work import UnitOfWork


class Database:
    def __init__(self, url: str, indexer=None, statement_timeout: float = 0):
        self.url = normalise_url(url)
        self.statement_timeout = statement_timeout   # seconds per statement; 0 = none
        self.engine: Engine = make_engine(self.url, statement_timeout)
        # rows(rtype, resource) -> index rows by parameter type (fhirsvc.search.Indexer)
        self.indexer = indexer or NullIndexer()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self, write)

    def analyze(self, vacuum: bool = True) -> None:
        """Planner statistics after a bulk load (and VACUUM on PostgreSQL)."""
        dialect.analyze(self.engine, vacuum)

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["ConflictError", "Database", "NotFoundError", "Repository", "StatementTimeoutError",
           "StorageError", "Stored",
           "UnitOfWork", "instant_to_micros", "make_engine", "micros_to_instant"]
