"""Remote FHIR systems: configured endpoints and their pull cursors (fhirsvc/remote).

Revision ID: 0009
Revises: 0007 (written against 0004; chained after 0007 when the security branch merged)

Mirrors `endpoints` in fhirsvc/storage/tables.py; keep them in step.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("cursors", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
    )


def downgrade() -> None:
    op.drop_table("endpoints")
