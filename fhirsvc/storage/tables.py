"""SQLAlchemy Core tables shared by every module that stores things.

`resources` holds one row per logical resource (its current version); `resource_versions`
holds every version, including logical deletes, with the JSON text exactly as served. The
search module adds its index tables to the same `metadata`.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, ForeignKey, Index, Integer, MetaData,
                        String, Table, Text, UniqueConstraint)

metadata = MetaData()

# BIGINT on PostgreSQL; INTEGER on SQLite so the column is the rowid alias (autoincrement).
PK = BigInteger().with_variant(Integer(), "sqlite")

resources = Table(
    "resources", metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    # microseconds since the epoch, UTC: portable, exact, sorts correctly on both databases
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    UniqueConstraint("resource_type", "resource_id", name="uq_resources_type_id"),
)
Index("ix_resources_type_updated", resources.c.resource_type, resources.c.last_updated)

resource_versions = Table(
    "resource_versions", metadata,
    Column("res_pk", PK, ForeignKey("resources.pk", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("method", String(8), nullable=False),  # POST | PUT | DELETE (Bundle.entry.request)
    Column("content", Text, nullable=True),        # null for a delete
)
Index("ix_versions_updated", resource_versions.c.last_updated)
Index("ix_versions_type_updated", resource_versions.c.resource_type,
      resource_versions.c.last_updated)

# urn:uuid / urn:oid fullUrls under which resources were created: UUIDs and OIDs are globally
# unique, so a later transaction that refers to the same urn means the same resource
# (Synthea's patient bundles refer to Organizations created by an earlier bundle this way).
resource_aliases = Table(
    "resource_aliases", metadata,
    Column("alias", String(255), primary_key=True),
    Column("res_pk", PK, ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False),
)
