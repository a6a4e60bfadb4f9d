"""People who log in to the pages: the user directory and failed logins (fhirsvc/security/users.py).

Revision ID: 0013
Revises: 0010

Mirrors `ui_users` and `ui_login_failures` in fhirsvc/storage/tables.py; keep them in step.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ui_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("sessions_after", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "ui_login_failures",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ui_login_failures_key_at", "ui_login_failures", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_ui_login_failures_key_at", table_name="ui_login_failures")
    op.drop_table("ui_login_failures")
    op.drop_table("ui_users")
