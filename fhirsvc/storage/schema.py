"""Does a database's schema match the table metadata? (Alembic's autogenerate comparison:
tables, columns, types, nullability, indexes, unique constraints, foreign keys; plus column
collations, which it leaves out and prefix search depends on.)

    differences(engine) -> [] when the migrated schema is what fhirsvc.storage.tables says
"""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import String, inspect
from sqlalchemy.engine import Engine

from .dialect import MIGRATION_ONLY_COLUMNS, MIGRATION_ONLY_TABLE_PREFIX
from .tables import metadata


def differences(engine: Engine) -> list[str]:
    """Readable differences between the database and the metadata (migration-only columns
    of the dialect excepted)."""
    allowed = MIGRATION_ONLY_COLUMNS.get(engine.dialect.name, set())
    out: list[str] = []
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        for diff in _flatten(compare_metadata(ctx, metadata)):
            if diff[0] == "remove_column" and (diff[2], diff[3].name) in allowed:
                continue
            if diff[0] in ("remove_table", "remove_index") and _table_name(diff).startswith(
                    MIGRATION_ONLY_TABLE_PREFIX):
                continue
            out.append(_describe(diff))
        insp = inspect(conn)
        for table in metadata.sorted_tables:
            reflected = {c["name"]: c for c in insp.get_columns(table.name)}
            for col in table.columns:
                if not isinstance(col.type, String) or col.name not in reflected:
                    continue
                want = getattr(col.type.dialect_impl(engine.dialect), "collation", None)
                have = getattr(reflected[col.name]["type"], "collation", None)
                if want != have:
                    out.append(f"collation of {table.name}.{col.name}: database {have!r}, "
                               f"metadata {want!r}")
    return out


def _table_name(diff) -> str:
    obj = diff[1]
    return obj.name if diff[0] == "remove_table" else obj.table.name


def _flatten(diffs):
    for d in diffs:
        if isinstance(d, list):  # column modifications come grouped per column
            yield from d
        else:
            yield d


def _describe(diff) -> str:
    """Alembic's "add" is what the database lacks, "remove" what only the database has."""
    kind = diff[0]
    where = {"add": "missing from the database", "remove": "only in the database"}
    verb, _, what = kind.partition("_")
    if what == "table":
        return f"{where[verb]}: table {diff[1].name}"
    if what == "index":
        ix = diff[1]
        return (f"{where[verb]}: index {ix.name} on {ix.table.name}"
                f"({', '.join(c.name for c in ix.columns)})")
    if what == "column":
        return f"{where[verb]}: column {diff[2]}.{diff[3].name}"
    if verb == "modify":
        return f"{what} of {diff[2]}.{diff[3]}: database {diff[5]!r}, metadata {diff[6]!r}"
    return " ".join(str(x) for x in diff)
