"""Rate limit buckets shared by every server process (fhirsvc/security/limits.py).

Revision ID: 0012
Revises: 0010

One row per client: its token bucket (tokens left, when they were counted, whether the last
request was let through). Mirrors rate_buckets in fhirsvc/storage/tables.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("bucket", sa.String(255), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("granted", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
