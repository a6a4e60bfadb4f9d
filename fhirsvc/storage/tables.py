"""SQLAlchemy Core tables shared by every module that stores things.

`resources` holds one row per logical resource (its current version); `resource_versions`
holds every version, including logical deletes, with the JSON text exactly as served. The
search module adds its index tables to the same `metadata`. `jobs` is the queue of background
work (docs/jobs.md).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Index, Integer,
                        MetaData, String, Table, Text, UniqueConstraint)

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

# Background jobs (fhirsvc/jobs, statements in storage/jobs.py). JSON columns are text, as
# resource content is; times are microseconds since the epoch, UTC.
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
jobs = Table(
    "jobs", metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("params", Text, nullable=False),                 # JSON object, fixed at enqueue
    Column("state", String(16), nullable=False),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),  # claims so far
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", BigInteger, nullable=False),         # not claimed before (retry backoff)
    Column("requested_by", String(200), nullable=True),      # client / user that enqueued it
    Column("owner", String(200), nullable=True),             # worker running it
    Column("heartbeat", BigInteger, nullable=True),
    Column("cursor", Text, nullable=True),                   # JSON checkpoint to resume from
    Column("progress_done", BigInteger, nullable=False, default=0),
    Column("progress_total", BigInteger, nullable=True),
    Column("progress_note", String(200), nullable=True),
    Column("result", Text, nullable=True),                   # JSON
    Column("error", Text, nullable=True),                    # last failure's message
    Column("created", BigInteger, nullable=False),
    Column("started", BigInteger, nullable=True),            # first claim
    Column("finished", BigInteger, nullable=True),
    CheckConstraint("state IN (%s)" % ", ".join(f"'{s}'" for s in JOB_STATES),
                    name="ck_jobs_state"),
)
Index("ix_jobs_state_run_after", jobs.c.state, jobs.c.run_after)
Index("ix_jobs_state_heartbeat", jobs.c.state, jobs.c.heartbeat)
Index("ix_jobs_kind_state_finished", jobs.c.kind, jobs.c.state, jobs.c.finished)
