"""Each search index table's per-resource index leads with (res_pk, param); idx_reference's
also covers the target.

Revision ID: 0015
Revises: 0014

A probe of one parameter of one resource (a condition tested per candidate: `EXISTS (...
WHERE res_pk = r.pk AND param = ...)`, a chain's inner clause tested per target) seeked
`res_pk` alone and read every index row of that resource, one table row each on SQLite (a
Patient has dozens of string rows; issue 16). idx_reference's was (res_pk, param) already; it
now carries resource_type, target_type and target_id too, so a chain tested through the
references of given keys (search_sql.reference_rows) reads no table row (PostgreSQL: an
index-only scan). Same names, so nothing else changes; mirrors fhirsvc/storage/tables.py. An
index build only: no data changes, no reindex.
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ["idx_token", "idx_string", "idx_date", "idx_quantity", "idx_number", "idx_uri",
          "idx_composite"]


def _build(name: str, table: str, columns: list[str]) -> None:
    op.drop_index(name, table_name=table)
    op.create_index(name, table, columns)
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's planner reads sqlite_stat1 (filled by ANALYZE after a bulk load): a rebuilt
        # index would otherwise have no row there and be costed by defaults
        op.execute(f"ANALYZE {name}")


def _rebuild(columns: list[str]) -> None:
    for table in TABLES:
        _build("ix_" + table + "_pk", table, columns)


REFERENCE = ["res_pk", "param", "resource_type", "target_type", "target_id"]


def _reference(columns: list[str]) -> None:
    _build("ix_idx_reference_pk", "idx_reference", columns)


def upgrade() -> None:
    _rebuild(["res_pk", "param"])
    _reference(REFERENCE)


def downgrade() -> None:
    _rebuild(["res_pk"])
    _reference(["res_pk", "param"])
