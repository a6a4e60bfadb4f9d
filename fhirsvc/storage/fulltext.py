"""Full-text index for `_text` and `_content`: one row per current resource with its narrative
words and all its words (fhirsvc.search.text extracts them, already folded and split, so both
databases index identical words).

- SQLite: an FTS5 virtual table `resource_text(res_pk UNINDEXED, resource_type UNINDEXED,
  narrative, content)` whose rowid is the resource's pk (deletes by rowid are index look-ups).
- PostgreSQL: a table `resource_text(res_pk, resource_type, narrative tsvector, content
  tsvector)` with a GIN index on each tsvector ("simple" configuration: no stemming, as FTS5's
  unicode61 tokenizer).

Created by migration 0010; not part of `tables.metadata` (the column types and the virtual
table differ by database), so schema.differences skips them (dialect.MIGRATION_ONLY_TABLES).
"""
from __future__ import annotations

from sqlalchemy import column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, bindparam
from sqlalchemy.types import NullType

from ..search.criteria import TextQuery

TABLE = "resource_text"
FIELDS = ("narrative", "content")
resource_text = table(TABLE, column("res_pk"), column("resource_type"), column("narrative"),
                      column("content"))
_CHUNK = 500


class _Match(ColumnElement):
    """`<field> matches <query>`, rendered by each database's full-text syntax."""
    inherit_cache = False
    type = NullType()  # not Boolean: SQLite would get `MATCH ? = 1`

    def __init__(self, field: str, query: TextQuery):
        assert field in FIELDS
        self.field = field
        self.query = query


def fts5_query(field: str, q: TextQuery) -> str:
    groups = ["(" + " AND ".join('"' + " ".join(p) + '"' for p in g) + ")" for g in q.groups]
    return f"{field} : (" + " OR ".join(groups) + ")"


def tsquery(q: TextQuery) -> str:
    groups = ["(" + " & ".join("(" + " <-> ".join(f"'{w}'" for w in p) + ")" for p in g) + ")"
              for g in q.groups]
    return " | ".join(groups)


@compiles(_Match, "sqlite")
def _match_sqlite(element, compiler, **kw):
    return f"{TABLE} MATCH " + compiler.process(
        bindparam(None, fts5_query(element.field, element.query), unique=True), **kw)


@compiles(_Match, "postgresql")
def _match_pg(element, compiler, **kw):
    return (f"{TABLE}.{element.field} @@ CAST(" + compiler.process(
        bindparam(None, tsquery(element.query), unique=True), **kw) + " AS tsquery)")


def text_pks(field: str, query: TextQuery):
    """SELECT res_pk of the resources whose `field` words match `query`."""
    return (select(resource_text.c.res_pk).select_from(resource_text)
            .where(_Match(field, query)).correlate(None))


# -- writes ---------------------------------------------------------------------------------------

def write(conn, rows: list[tuple]) -> None:
    """rows: (res_pk, resource_type, narrative words, content words)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE} (rowid, res_pk, resource_type, narrative, content) "
            "VALUES (?, ?, ?, ?, ?)", [(r[0],) + tuple(r) for r in rows])
    else:
        conn.exec_driver_sql(*insert_postgresql(rows))


def insert_postgresql(rows: list[tuple]) -> tuple[str, tuple]:
    """PostgreSQL: the INSERT of `write` and its parameters (also a part of one statement
    with the other index tables' rows, storage/index.py)."""
    # words are letters and digits only, so to_tsvector('simple') keeps them as they are;
    # one statement for the whole batch (arrays unnested) instead of one per resource
    cols = list(zip(*rows))
    return (f"INSERT INTO {TABLE} (res_pk, resource_type, narrative, content) "
            "SELECT u.pk, u.t, to_tsvector('simple', u.n), to_tsvector('simple', u.c) FROM "
            "unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS u(pk, t, n, c)",
            (list(cols[0]), list(cols[1]), list(cols[2]), list(cols[3])))


def _key(conn) -> str:
    return "rowid" if conn.dialect.name == "sqlite" else "res_pk"


def delete(conn, pks: list[int]) -> None:
    key = _key(conn)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start:start + _CHUNK]
        conn.exec_driver_sql(f"DELETE FROM {TABLE} WHERE {key} IN ("
                             + ", ".join([mark] * len(chunk)) + ")", tuple(chunk))


def delete_range(conn, after_pk: int, last_pk: int) -> None:
    key = _key(conn)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(f"DELETE FROM {TABLE} WHERE {key} > {mark} AND {key} <= {mark}",
                         (after_pk, last_pk))
