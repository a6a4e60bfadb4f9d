"""Aliases: the urn:uuid / urn:oid fullUrls under which clients created resources.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "resource_aliases",
        sa.Column("alias", sa.String(255), primary_key=True),
        sa.Column("res_pk", PK, sa.ForeignKey("resources.pk", ondelete="CASCADE"),
                  nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resource_aliases")
