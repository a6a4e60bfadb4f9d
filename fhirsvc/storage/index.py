"""Index repository: the search index rows of current versions, written in bulk.

    uow.index.replace([(pk, "Patient", resource), (pk2, "Patient", None)])   # at flush
    uow.index.rebuild(after_pk=0, limit=1000)  -> (resources indexed, last pk)

The rows come from an indexer (fhirsvc.search.Indexer: `rows(rtype, resource)` -> rows by
parameter type, fhirsvc.search.rows); every table gets one driver-level executemany of plain
tuples `(res_pk, resource_type, *row)` inside the write transaction (COPY on PostgreSQL).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from sqlalchemy import and_, bindparam, delete, func, select

from .. import jsontext  # exact decimals for the index (storage.decimals)
from . import dialect, fulltext
from .tables import INDEX_TABLES
from .tables import resource_versions as V
from .tables import resources as R

_CHUNK = 500
# which of these keys have had a version before the current one (built once)
_UPDATED = select(R.c.pk).where(R.c.pk.in_(bindparam("pks", expanding=True)), R.c.version > 1)


def _containing(q, text: str | None):
    """`q` over resources narrowed to those whose current version's text holds `text`."""
    if text is None:
        return q
    return q.join(V, and_(V.c.res_pk == R.c.pk, V.c.version == R.c.version)).where(
        V.c.content.contains(text, autoescape=True))


class NullIndexer:
    """No search index (storage used alone, e.g. by its own tests)."""

    def rows(self, rtype: str, resource: dict) -> dict:
        return {}


class IndexRepository:
    def __init__(self, conn, indexer):
        self.conn = conn
        self.indexer = indexer

    def replace(self, items: Iterable[tuple[int, str, dict | None]],
                fresh: frozenset[int] | set[int] = frozenset()) -> None:
        """New rows for new current versions (resource None: deleted, rows only removed).
        A resource saved more than once gets the rows of its last version only. `fresh`:
        keys created since rows were last written, which have none to delete yet."""
        latest = {}
        for item in items:
            latest[item[0]] = item
        items = list(latest.values())
        if not items:
            return
        pks = [pk for pk, _t, _r in items if pk not in fresh]
        # Only resources that existed before this transaction can have rows: one query finds
        # them, so a batch of creates costs no deletes (and no query, when all are fresh).
        old: set[int] = set()
        for start in range(0, len(pks), _CHUNK):
            chunk = pks[start:start + _CHUNK]
            old.update(r[0] for r in self.conn.execute(_UPDATED, {"pks": chunk}))
        old.update(pk for pk, _t, res in items if res is None)
        self.delete(sorted(old))
        self.write(items)

    def delete(self, pks: list[int]) -> None:
        """Remove every index row of these resources."""
        if not pks:
            return
        if dialect.delete_keyed(self.conn, [(t.name, "res_pk") for t in INDEX_TABLES.values()]
                                + [(fulltext.TABLE, "res_pk")], pks):
            return
        for table in INDEX_TABLES.values():
            for start in range(0, len(pks), _CHUNK):
                self.conn.execute(delete(table).where(
                    table.c.res_pk.in_(pks[start:start + _CHUNK])))
        fulltext.delete(self.conn, pks)

    def write(self, items: Iterable[tuple[int, str, dict | None]], indexer=None) -> None:
        """Insert the rows of these resources: one executemany per table."""
        indexer = indexer or self.indexer
        self.write_rows((pk, rtype, indexer.rows(rtype, resource))
                        for pk, rtype, resource in items if resource is not None)

    def write_rows(self, extracted: Iterable[tuple[int, str, dict]]) -> None:
        """Insert rows extracted beforehand: (pk, resource type, rows by parameter type)."""
        by_table: dict[str, list[tuple]] = defaultdict(list)
        for pk, rtype, rows_by_kind in extracted:
            head = (pk, rtype)
            for kind, rows in rows_by_kind.items():
                if rows:
                    by_table[kind].extend([head + row for row in rows])
        conn = self.conn
        if dialect.insert_together(
                conn, [(INDEX_TABLES[k], rows) for k, rows in by_table.items() if k != "text"],
                [fulltext.insert_postgresql(by_table["text"])] if by_table.get("text") else []):
            return
        for kind, rows in by_table.items():
            if kind == "text":  # _text / _content words (storage.fulltext)
                fulltext.write(conn, rows)
            else:
                dialect.bulk_insert(conn, INDEX_TABLES[kind], rows)

    def keys_after(self, after_pk: int, limit: int, containing: str | None = None) -> list[int]:
        """The next `limit` resource keys after `after_pk` (deleted ones too), in key order;
        with `containing`, only those whose current version's stored text holds it."""
        return [row.pk for row in self.conn.execute(
            _containing(select(R.c.pk), containing).where(R.c.pk > after_pk)
            .order_by(R.c.pk).limit(limit))]

    def count_containing(self, containing: str) -> int:
        """How many resources' current stored text holds `containing`."""
        return self.conn.execute(_containing(select(func.count()).select_from(R), containing)
                                 ).scalar_one()

    def lock_versions(self, pks: list[int]) -> dict[int, int]:
        """The current version of each of these resources, locked for the transaction
        (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already keeps writers out)."""
        out: dict[int, int] = {}
        for start in range(0, len(pks), _CHUNK):
            q = select(R.c.pk, R.c.version).where(R.c.pk.in_(pks[start:start + _CHUNK]))
            for pk, version in self.conn.execute(dialect.for_update(q, self.conn, of=R)):
                out[pk] = version
        return out

    def rebuild(self, after_pk: int, limit: int, indexer=None) -> tuple[int, int]:
        """Reindex the next `limit` current resources with pk > `after_pk` (in pk order):
        their rows are deleted and written again from the stored text. Returns (resources
        indexed, last pk); (0, after_pk) when none is left. The resources are locked for the
        transaction, so a concurrent update cannot interleave with their rows."""
        q = (select(R.c.pk, R.c.resource_type, V.c.content)
             .select_from(R.join(V, and_(V.c.res_pk == R.c.pk, V.c.version == R.c.version)))
             .where(R.c.pk > after_pk, R.c.deleted.is_(False)).order_by(R.c.pk).limit(limit))
        rows = self.conn.execute(dialect.for_update(q, self.conn, of=R)).all()
        if not rows:
            return 0, after_pk
        last = rows[-1].pk
        for table in INDEX_TABLES.values():
            self.conn.execute(delete(table).where(table.c.res_pk > after_pk,
                                                  table.c.res_pk <= last))
        fulltext.delete_range(self.conn, after_pk, last)
        self.write(((row.pk, row.resource_type, jsontext.loads(row.content)) for row in rows),
                   indexer)
        return len(rows), last
