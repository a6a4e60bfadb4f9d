"""Storage: tables, engine set-up, repository and unit of work, migrations."""
from __future__ import annotations

from sqlalchemy.engine import Engine

from .database import make_engine, normalise_url
from .repository import Repository, Stored, instant_to_micros, micros_to_instant
from .unit_of_work import UnitOfWork


class NullIndexer:
    """Used until a search indexer is plugged in (and by tests of storage alone)."""

    def replace(self, conn, items) -> None:
        return None


class Database:
    def __init__(self, url: str, indexer=None):
        self.url = normalise_url(url)
        self.engine: Engine = make_engine(self.url)
        self.indexer = indexer or NullIndexer()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self, write)

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "Repository", "Stored", "UnitOfWork", "instant_to_micros",
           "micros_to_instant", "make_engine"]
