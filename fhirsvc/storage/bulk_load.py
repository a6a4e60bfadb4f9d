"""Bulk load: many new resources at once, for operators (`python -m fhirsvc load --bulk`) and
for the benchmarks at a million resources (issue 16).

    loader = BulkLoader(db)                 # db.indexer extracts the index rows
    result = loader.load(iter_of_(type, id, resource))

Writes the same rows as the normal path (`Repository.create_many` + `IndexRepository.write`:
version 1 stamped by `Repository._stamp`, index rows from the same indexer and writer), but
in big transactions (`batch` resources each) with the keys taken in one statement and the
rows streamed: `COPY ... FROM STDIN` on PostgreSQL, one executemany per table on SQLite.

On an empty database (or with `defer_indexes=True`) the secondary indexes of the search
index tables are dropped first and built once at the end (one sorted build instead of a
b-tree insert per row), then ANALYZE runs. Searches during such a load would scan: it is
meant for a database that is not serving yet. A load into a live database keeps the indexes
(`defer_indexes=False`, the default when resources are stored already).

Only creates: an id that is stored already is a ConflictError and that batch is rolled back
(earlier batches stay committed; `LoadResult.loaded` says how many).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from . import dialect
from .errors import ConflictError
from .index import IndexRepository
from .repository import Repository
from .tables import INDEX_TABLES
from .tables import resources as R
from .tables import resource_versions as V


@dataclass
class LoadResult:
    loaded: int = 0
    batches: int = 0
    seconds: float = 0.0
    index_seconds: float = 0.0   # building the deferred indexes (and ANALYZE)
    deferred_indexes: bool = False

    @property
    def per_second(self) -> float:
        return self.loaded / self.seconds if self.seconds else 0.0


def deferrable_indexes():
    """The secondary indexes of the search index tables (built after a bulk load)."""
    return [ix for table in INDEX_TABLES.values() for ix in sorted(table.indexes,
                                                                    key=lambda i: i.name)]


class BulkLoader:
    def __init__(self, db, batch: int = 5000, defer_indexes: bool | None = None,
                 analyze: bool = True, progress=None):
        self.db = db
        self.batch = batch
        self.defer_indexes = defer_indexes
        self.analyze = analyze
        self.progress = progress   # progress(loaded so far) after each batch

    def load(self, items: Iterable[tuple[str, str, dict]], method: str = "PUT") -> LoadResult:
        result = LoadResult()
        start = time.perf_counter()
        engine = self.db.engine
        defer = self.defer_indexes
        if defer is None:
            with engine.connect() as conn:
                defer = conn.execute(select(R.c.pk).limit(1)).first() is None
        result.deferred_indexes = defer
        if defer:
            self._drop_indexes()
        try:
            for chunk in _chunks(items, self.batch):
                self._write_batch(chunk, method)
                result.loaded += len(chunk)
                result.batches += 1
                if self.progress is not None:
                    self.progress(result.loaded)
        finally:
            t = time.perf_counter()
            if defer:
                self._create_indexes()
            if self.analyze:
                self.db.analyze(vacuum=True)
            result.index_seconds = time.perf_counter() - t
            result.seconds = time.perf_counter() - start
        return result

    def finish(self) -> float:
        """Build the deferred indexes that are missing and ANALYZE: after several loaders ran
        side by side with `defer_indexes=False` into a database whose indexes one of them (or
        `drop_indexes`) dropped. Returns the seconds it took."""
        t = time.perf_counter()
        self._create_indexes()
        if self.analyze:
            self.db.analyze(vacuum=True)
        return time.perf_counter() - t

    def drop_indexes(self) -> None:
        self._drop_indexes()

    # -- one transaction ---------------------------------------------------------------------
    def _write_batch(self, chunk: list[tuple[str, str, dict]], method: str) -> None:
        # the CPU work (stamping, serialising, index rows) before the transaction: SQLite's
        # write lock and PostgreSQL's transaction are held for the writes alone, so several
        # loaders can run side by side
        now = time.time_ns() // 1000
        indexer = self.db.indexer
        prepared = []
        for rtype, rid, resource in chunk:
            stored, content = Repository._stamp(rtype, rid, resource, 1, now)
            prepared.append((rtype, rid, content, indexer.rows(rtype, stored)))
        with self.db.engine.connect() as conn:
            conn = dialect.for_writing(conn)
            with conn.begin():
                pks = self._new_keys(conn, len(chunk))
                res_rows = [(pk, t, i, 1, now, False) for pk, (t, i, _c, _r) in zip(pks, prepared)]
                ver_rows = [(pk, 1, t, now, False, method, c)
                            for pk, (t, _i, c, _r) in zip(pks, prepared)]
                try:
                    dialect.bulk_insert(conn, R, res_rows)
                except IntegrityError:
                    raise ConflictError(
                        "A resource of this load is stored already (the bulk loader only "
                        f"creates): one of {', '.join(f'{t}/{i}' for t, i, _ in chunk[:3])}"
                        " ...") from None
                except Exception as exc:   # COPY reports a unique violation as its own error
                    if dialect.conflict_reason(exc) is not None:
                        raise ConflictError("A resource of this load is stored already (the "
                                            "bulk loader only creates)") from None
                    raise
                dialect.bulk_insert(conn, V, ver_rows)
                IndexRepository(conn, indexer).write_rows(
                    (pk, t, rows) for pk, (t, _i, _c, rows) in zip(pks, prepared))

    @staticmethod
    def _new_keys(conn, n: int) -> list[int]:
        if conn.dialect.name == "postgresql":
            # one round trip; other writers draw from the same sequence meanwhile
            return [row[0] for row in conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('resources', 'pk')) "
                "FROM generate_series(1, %s)", (n,))]
        # SQLite: the write lock (BEGIN IMMEDIATE) is held, so max + 1 ... is ours
        top = conn.execute(select(func.max(R.c.pk))).scalar() or 0
        return list(range(top + 1, top + 1 + n))

    # -- deferred indexes --------------------------------------------------------------------
    def _drop_indexes(self) -> None:
        with self.db.engine.begin() as conn:
            for ix in deferrable_indexes():
                conn.execute(text(f"DROP INDEX IF EXISTS {ix.name}"))

    def _create_indexes(self) -> None:
        engine = self.db.engine
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("SET statement_timeout = 0")
                conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")
                for ix in deferrable_indexes():
                    ix.create(conn, checkfirst=True)
            return
        with engine.connect().execution_options(no_timeout=True) as conn:
            with conn.begin():
                for ix in deferrable_indexes():
                    ix.create(conn, checkfirst=True)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
