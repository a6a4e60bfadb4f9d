"""Background jobs: the queue the worker claims from (fhirsvc/jobs, docs/jobs.md).

Revision ID: 0004
Revises: 0003

Mirrors `jobs` in fhirsvc/storage/tables.py; keep them in step.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("run_after", sa.BigInteger, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("heartbeat", sa.BigInteger, nullable=True),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("progress_done", sa.BigInteger, nullable=False),
        sa.Column("progress_total", sa.BigInteger, nullable=True),
        sa.Column("progress_note", sa.String(200), nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("started", sa.BigInteger, nullable=True),
        sa.Column("finished", sa.BigInteger, nullable=True),
        sa.CheckConstraint("state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
                           name="ck_jobs_state"),
    )
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])
    op.create_index("ix_jobs_state_heartbeat", "jobs", ["state", "heartbeat"])
    op.create_index("ix_jobs_kind_state_finished", "jobs", ["kind", "state", "finished"])


def downgrade() -> None:
    op.drop_table("jobs")
