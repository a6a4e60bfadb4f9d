"""One accepted log row per message: (sender, type, control id) unique among the rows that
stored a message (services/hl7v2.py).

Revision ID: 0016
Revises: 0015

Two copies of one message arriving at once each found no accepted row, each stored the message
and each logged an AA. The rows of copies answered from the log now name the row they were
answered from (`answered_from`), and the rows that stored a message (accepted, `answered_from`
NULL) are unique per (sender, message_type, control_id): the second copy to commit fails on
the index and is answered from the first one's row. Rows logged before are marked: every
accepted row after the first of its key is taken for an answer from that first (mirrors
`hl7v2_messages` in fhirsvc/storage/tables.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACCEPTED = "outcome IN ('AA', 'CA')"
FIRST = ("SELECT min(f.id) FROM hl7v2_messages f WHERE f.sender = hl7v2_messages.sender AND "
         "f.message_type = hl7v2_messages.message_type AND "
         f"f.control_id = hl7v2_messages.control_id AND f.{ACCEPTED}")


def upgrade() -> None:
    op.add_column("hl7v2_messages", sa.Column("answered_from", sa.BigInteger, nullable=True))
    op.execute(f"UPDATE hl7v2_messages SET answered_from = ({FIRST}) WHERE {ACCEPTED} AND "
               f"control_id IS NOT NULL AND id > ({FIRST})")
    where = sa.text(f"{ACCEPTED} AND answered_from IS NULL")
    op.create_index("ux_hl7v2_accepted", "hl7v2_messages",
                    ["sender", "message_type", "control_id"], unique=True,
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ux_hl7v2_accepted", "hl7v2_messages")
    with op.batch_alter_table("hl7v2_messages") as batch:
        batch.drop_column("answered_from")
