"""Exact decimals in the search index (issue 9; fhirsvc/storage/decimals.py).

Revision ID: 0011
Revises: 0010

idx_quantity.value, idx_number.value and idx_composite.v_num were doubles. PostgreSQL: NUMERIC;
SQLite: the order-preserving text key of storage/decimals.py. Existing rows are converted in
place from their doubles (searchable at once, as exact as a double was), and a `reindex` job
is queued when the database holds resources: it rebuilds every row from the stored text, so
`12345678901234567.1` is indexed as written (the job worker beside the server runs it;
`python -m fhirsvc reindex` runs it in the foreground).
"""
import json
import time
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = [("idx_quantity", "value", False), ("idx_number", "value", False),
           ("idx_composite", "v_num", True)]


def _key(d: Decimal) -> str:
    from fhirsvc.storage.decimals import key
    return key(d)


def _to_decimal(v):
    if v is None:
        return None
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, str) and v[:1] in ("O", "P", "N"):
        return None                       # already a key
    return Decimal(str(v))


def _sqlite_rewrite(bind, table: str, col: str, to_key: bool) -> None:
    from fhirsvc.storage.decimals import from_key
    rows = bind.execute(sa.text(f"SELECT rowid, {col} FROM {table} WHERE {col} IS NOT NULL")).all()
    updates = []
    for rowid, v in rows:
        if to_key:
            d = _to_decimal(v)
            if d is not None:
                updates.append({"r": rowid, "v": _key(d) if d.is_finite() else "O"})
        elif isinstance(v, str):
            # the double's shortest text: the type change's CAST reads it back exactly
            updates.append({"r": rowid, "v": repr(float(from_key(v)))})
    if updates:
        bind.execute(sa.text(f"UPDATE {table} SET {col} = :v WHERE rowid = :r"), updates)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, col, _null in COLUMNS:
            # through text: a double's text is its shortest exact form (float8::numeric
            # would round to 15 digits)
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE NUMERIC "
                       f"USING {col}::text::numeric")
    else:
        for table, col, null in COLUMNS:
            # keys first (a REAL column keeps text that is no number as text), so the table
            # copy of the type change moves text, not a double's 15-digit text
            _sqlite_rewrite(bind, table, col, to_key=True)
            with op.batch_alter_table(table) as batch:
                batch.alter_column(col, type_=sa.String(), existing_type=sa.Float(),
                                   existing_nullable=null)
    if bind.execute(sa.text("SELECT 1 FROM resources LIMIT 1")).first() is not None:
        now = time.time_ns() // 1000
        bind.execute(sa.text(
            "INSERT INTO jobs (kind, params, state, cancel_requested, attempts, max_attempts, "
            "run_after, requested_by, progress_done, created) VALUES ('reindex', :p, 'queued', "
            ":f, 0, 3, :now, 'migration 0011 (exact decimals)', 0, :now)"),
            {"p": json.dumps({"batch": 500}), "f": False, "now": now})


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, col, _null in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE DOUBLE PRECISION "
                       f"USING {col}::double precision")
        return
    for table, col, null in COLUMNS:
        _sqlite_rewrite(bind, table, col, to_key=False)
        with op.batch_alter_table(table) as batch:
            batch.alter_column(col, type_=sa.Float(), existing_type=sa.String(),
                               existing_nullable=null)
