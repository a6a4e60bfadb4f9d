"""Search index tables (token, string, date, reference, quantity, number, uri, composite).

Revision ID: 0002
Revises: 0001

Mirrors the index tables of fhirsvc/storage/tables.py. Existing resources are not indexed by the migration: run the
reindex command after upgrading a database that already holds data.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CSTR = sa.String().with_variant(sa.String(collation="C"), "postgresql")

TABLES = {
    "idx_token": [("system", CSTR), ("code", CSTR), ("text", CSTR)],
    "idx_string": [("value", CSTR), ("exact", sa.Text)],
    "idx_date": [("low", sa.BigInteger, False), ("high", sa.BigInteger, False),
                 ("wide", sa.SmallInteger, False), ("multi", sa.SmallInteger, False)],
    "idx_reference": [("target_type", sa.String(64)), ("target_id", sa.String(64)),
                      ("url", CSTR)],
    "idx_quantity": [("value", sa.Float, False), ("system", CSTR), ("code", CSTR),
                     ("unit", CSTR)],
    "idx_number": [("value", sa.Float, False)],
    "idx_uri": [("value", CSTR)],
    "idx_composite": [("system1", CSTR), ("code1", CSTR), ("v_system", CSTR), ("v_code", CSTR),
                      ("v_num", sa.Float), ("v_low", sa.BigInteger), ("v_high", sa.BigInteger),
                      ("v_str", CSTR)],
}

INDEXES = [
    ("ix_idx_token_code", "idx_token", ["resource_type", "param", "code", "res_pk"]),
    ("ix_idx_token_pk", "idx_token", ["res_pk"]),
    ("ix_idx_string_value", "idx_string", ["resource_type", "param", "value", "res_pk"]),
    ("ix_idx_string_pk", "idx_string", ["res_pk"]),
    ("ix_idx_date_low", "idx_date", ["resource_type", "param", "wide", "low", "high", "res_pk"]),
    ("ix_idx_date_multi", "idx_date", ["resource_type", "param", "multi"]),
    ("ix_idx_date_pk", "idx_date", ["res_pk"]),
    ("ix_idx_reference_target", "idx_reference",
     ["target_id", "target_type", "resource_type", "param", "res_pk"]),
    ("ix_idx_reference_url", "idx_reference", ["url"]),
    ("ix_idx_reference_pk", "idx_reference", ["res_pk", "param"]),
    ("ix_idx_quantity_value", "idx_quantity", ["resource_type", "param", "value"]),
    ("ix_idx_quantity_pk", "idx_quantity", ["res_pk"]),
    ("ix_idx_number_value", "idx_number", ["resource_type", "param", "value"]),
    ("ix_idx_number_pk", "idx_number", ["res_pk"]),
    ("ix_idx_uri_value", "idx_uri", ["resource_type", "param", "value"]),
    ("ix_idx_uri_pk", "idx_uri", ["res_pk"]),
    ("ix_idx_composite_code", "idx_composite", ["resource_type", "param", "code1"]),
    ("ix_idx_composite_pk", "idx_composite", ["res_pk"]),
]


def upgrade() -> None:
    for name, cols in TABLES.items():
        columns = [
            sa.Column("res_pk", PK, sa.ForeignKey("resources.pk", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("resource_type", sa.String(64), nullable=False),
            sa.Column("param", sa.String(100), nullable=False),
        ]
        for col in cols:
            columns.append(sa.Column(col[0], col[1], nullable=col[2] if len(col) > 2 else True))
        op.create_table(name, *columns)
    for ix, table, cols in INDEXES:
        op.create_index(ix, table, cols)


def downgrade() -> None:
    for name in TABLES:
        op.drop_table(name)
