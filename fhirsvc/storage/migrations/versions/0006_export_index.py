"""Bulk Data / registry export: resources of one type in primary-key order.

Export batches walk one resource type by primary key (storage/export_queries.py): rows were
inserted in that order, so the versions' text is read nearly sequentially instead of at random
(resource ids are UUIDs). Mirrors `ix_resources_type_pk` in fhirsvc/storage/tables.py.

Revision ID: 0006
Revises: 0007
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resources_type_pk", "resources", ["resource_type", "pk"])


def downgrade() -> None:
    op.drop_index("ix_resources_type_pk", table_name="resources")
