"""The HL7 v2 message log (services/hl7v2.py).

Revision ID: 0005
Revises: 0007 (main carries 0007_security off 0004; chained after it)

Mirrors `hl7v2_messages` in fhirsvc/storage/tables.py; keep them in step.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hl7v2_messages",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(400), nullable=False),
        sa.Column("receiver", sa.String(400), nullable=True),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("control_id", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(2), nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("ack", sa.Text, nullable=False),
        sa.Column("provenance", sa.String(128), nullable=True),
        sa.Column("issues", sa.Text, nullable=True),
    )
    op.create_index("ix_hl7v2_sender_control", "hl7v2_messages", ["sender", "control_id"])
    op.create_index("ix_hl7v2_received", "hl7v2_messages", ["received"])
    op.create_index("ix_hl7v2_type_received", "hl7v2_messages", ["message_type", "received"])
    op.create_index("ix_hl7v2_outcome_received", "hl7v2_messages", ["outcome", "received"])


def downgrade() -> None:
    op.drop_table("hl7v2_messages")
