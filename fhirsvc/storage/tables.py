"""SQLAlchemy Core tables: resources, their versions, aliases and the search index.

`resources` holds one row per logical resource (its current version); `resource_versions`
holds every version, including logical deletes, with the JSON text exactly as served. The
index tables (one per search parameter type) hold the rows of fhirsvc.search.rows for the
current version of each resource. Migrations 0001-0003 create the same schema; keep them in
step (tests/integration/test_repository.py compares the two on both databases). `jobs` is the
queue of background work (docs/jobs.md).
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, Float, ForeignKey, Index,
                        Integer, MetaData, SmallInteger, String, Table, Text,
                        UniqueConstraint, text)

from .decimals import ExactDecimal  # exact decimals: NUMERIC / sortable text key
from .dialect import CSTR, PK

metadata = MetaData()

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
# exports walk one type in key order (migration 0006)
Index("ix_resources_type_pk", resources.c.resource_type, resources.c.pk)

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

# Remote FHIR systems (fhirsvc/remote, statements in storage/endpoints.py; migration 0009):
# `settings` is the endpoint's JSON configuration, `cursors` its JSON pull cursors by pull key.
endpoints = Table(
    "endpoints", metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("settings", Text, nullable=False),
    Column("cursors", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    UniqueConstraint("name", name="uq_endpoints_name"),
)
# The HL7 v2 message log (services/hl7v2.py, statements in storage/hl7v2_log.py): every
# message received, its ACK and outcome. Times are microseconds since the epoch, UTC.
hl7v2_messages = Table(
    "hl7v2_messages", metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("received", BigInteger, nullable=False),
    Column("door", String(16), nullable=False),             # hl7v2 (HTTP) | mllp | cli
    Column("sender", String(400), nullable=False),          # MSH-3^MSH-4
    Column("receiver", String(400), nullable=True),         # MSH-5^MSH-6
    Column("message_type", String(64), nullable=False),     # ADT^A01 ('' when unreadable)
    Column("control_id", String(200), nullable=True),       # MSH-10
    Column("outcome", String(2), nullable=False),           # AA | AE | AR | CA | CE | CR
    Column("raw", Text, nullable=False),
    Column("ack", Text, nullable=False),
    Column("provenance", String(128), nullable=True),       # Provenance/id of what was stored
    Column("issues", Text, nullable=True),                  # JSON list of the ERR problems
    Column("answered_from", BigInteger, nullable=True),     # the row a resend was answered from
)
Index("ix_hl7v2_sender_control", hl7v2_messages.c.sender, hl7v2_messages.c.control_id)
Index("ix_hl7v2_received", hl7v2_messages.c.received)
Index("ix_hl7v2_type_received", hl7v2_messages.c.message_type, hl7v2_messages.c.received)
Index("ix_hl7v2_outcome_received", hl7v2_messages.c.outcome, hl7v2_messages.c.received)
# one row stored each message: a copy racing it fails here and is answered from it (0016)
_ACCEPTED_ONCE = text("outcome IN ('AA', 'CA') AND answered_from IS NULL")
Index("ux_hl7v2_accepted", hl7v2_messages.c.sender, hl7v2_messages.c.message_type,
      hl7v2_messages.c.control_id, unique=True, sqlite_where=_ACCEPTED_ONCE,
      postgresql_where=_ACCEPTED_ONCE)

# -- search index: one table per parameter type (rows: fhirsvc.search.rows) ---------------------
# each table's ix_<table>_pk leads with (res_pk, param): a probe of one parameter of one
# resource seeks its rows instead of reading every row of the resource (migration 0015)
def _base(name: str, *columns) -> Table:
    return Table(
        name, metadata,
        Column("res_pk", PK, ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False),
        Column("resource_type", String(64), nullable=False),
        Column("param", String(100), nullable=False),
        *columns,
    )


idx_token = _base("idx_token", Column("system", CSTR), Column("code", CSTR), Column("text", CSTR))
Index("ix_idx_token_code", idx_token.c.resource_type, idx_token.c.param, idx_token.c.code,
      idx_token.c.res_pk)
Index("ix_idx_token_pk", idx_token.c.res_pk, idx_token.c.param)

idx_string = _base("idx_string", Column("value", CSTR), Column("exact", Text))
Index("ix_idx_string_value", idx_string.c.resource_type, idx_string.c.param, idx_string.c.value,
      idx_string.c.res_pk)
Index("ix_idx_string_pk", idx_string.c.res_pk, idx_string.c.param)

idx_date = _base("idx_date", Column("low", BigInteger, nullable=False),
                 Column("high", BigInteger, nullable=False),
                 # wide: high - low >= 1 day (short values are found by a range on low alone);
                 # multi: the resource has several values for this parameter
                 Column("wide", SmallInteger, nullable=False, default=0),
                 Column("multi", SmallInteger, nullable=False, default=0))
Index("ix_idx_date_low", idx_date.c.resource_type, idx_date.c.param, idx_date.c.wide,
      idx_date.c.low, idx_date.c.high, idx_date.c.res_pk)
Index("ix_idx_date_multi", idx_date.c.resource_type, idx_date.c.param, idx_date.c.multi)
Index("ix_idx_date_pk", idx_date.c.res_pk, idx_date.c.param)

idx_reference = _base("idx_reference", Column("target_type", String(64)),
                      Column("target_id", String(64)), Column("url", CSTR),
                      # the version a reference names (`.../_history/2`), migration 0014
                      Column("target_version", String(64)))
Index("ix_idx_reference_target", idx_reference.c.target_id, idx_reference.c.target_type,
      idx_reference.c.resource_type, idx_reference.c.param, idx_reference.c.res_pk)
Index("ix_idx_reference_url", idx_reference.c.url)
# covering: a chain tested through given keys' references reads no table row (migration 0015)
Index("ix_idx_reference_pk", idx_reference.c.res_pk, idx_reference.c.param,
      idx_reference.c.resource_type, idx_reference.c.target_type, idx_reference.c.target_id)

idx_quantity = _base("idx_quantity", Column("value", ExactDecimal, nullable=False),
                     Column("system", CSTR), Column("code", CSTR), Column("unit", CSTR))
Index("ix_idx_quantity_value", idx_quantity.c.resource_type, idx_quantity.c.param,
      idx_quantity.c.value)
Index("ix_idx_quantity_pk", idx_quantity.c.res_pk, idx_quantity.c.param)

idx_number = _base("idx_number", Column("value", ExactDecimal, nullable=False))
Index("ix_idx_number_value", idx_number.c.resource_type, idx_number.c.param, idx_number.c.value)
Index("ix_idx_number_pk", idx_number.c.res_pk, idx_number.c.param)

idx_uri = _base("idx_uri", Column("value", CSTR))
Index("ix_idx_uri_value", idx_uri.c.resource_type, idx_uri.c.param, idx_uri.c.value)
Index("ix_idx_uri_pk", idx_uri.c.res_pk, idx_uri.c.param)

idx_composite = _base("idx_composite", Column("system1", CSTR), Column("code1", CSTR),
                      Column("v_system", CSTR), Column("v_code", CSTR), Column("v_num", ExactDecimal),
                      Column("v_low", BigInteger), Column("v_high", BigInteger),
                      Column("v_str", CSTR))
Index("ix_idx_composite_code", idx_composite.c.resource_type, idx_composite.c.param,
      idx_composite.c.code1)
Index("ix_idx_composite_pk", idx_composite.c.res_pk, idx_composite.c.param)

INDEX_TABLES = {
    "token": idx_token, "string": idx_string, "date": idx_date, "reference": idx_reference,
    "quantity": idx_quantity, "number": idx_number, "uri": idx_uri, "composite": idx_composite,
}

# -- security (fhirsvc/security, docs/security.md; migration 0007) ------------------------------
# SMART Backend Services clients registered with the built-in authorization server.
auth_clients = Table(
    "auth_clients", metadata,
    Column("client_id", String(200), primary_key=True),
    Column("jwks", Text, nullable=False),                # JSON Web Key Set (public keys)
    Column("scope", Text, nullable=False),               # space-separated scopes it may ask
    Column("client_class", String(64), nullable=False),  # the limits it gets (config)
    Column("patient", String(64), nullable=True),        # patient context of its tokens
    Column("created", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

# The jti of every client assertion accepted, until it expires: never accepted twice.
auth_used_jti = Table(
    "auth_used_jti", metadata,
    Column("client_id", String(200), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires", BigInteger, nullable=False),
)
Index("ix_auth_used_jti_expires", auth_used_jti.c.expires)

# Rate limit token buckets, one per client, shared by every server process (migration 0012).
rate_buckets = Table(
    "rate_buckets", metadata,
    Column("bucket", String(255), primary_key=True),
    Column("tokens", Float, nullable=False),             # requests left (refilled by time)
    Column("at", BigInteger, nullable=False),            # when they were counted (micros)
    Column("granted", Integer, nullable=False),          # 1: the last request was let in
)

# The audit trail, append-only (triggers refuse UPDATE and DELETE; served as AuditEvent).
audit_events = Table(
    "audit_events", metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("recorded", BigInteger, nullable=False),      # microseconds since the epoch, UTC
    Column("door", String(32), nullable=False),
    Column("interaction", String(64), nullable=False),   # read, search-type, create, ...
    Column("action", String(1), nullable=False),         # C R U D E (AuditEvent.action)
    Column("outcome", String(2), nullable=False),        # 0 4 8 12 (AuditEvent.outcome)
    Column("status", Integer, nullable=True),            # HTTP-like status of the answer
    Column("client_id", String(200), nullable=True),
    Column("user_id", String(255), nullable=True),
    Column("patient", String(64), nullable=True),        # the token's patient context
    Column("resource_type", String(64), nullable=True),
    Column("resource_id", String(64), nullable=True),
    Column("version", Integer, nullable=True),
    Column("query", Text, nullable=True),
    Column("source", String(255), nullable=True),        # network address of the caller
    Column("request_id", String(64), nullable=True),
    Column("detail", Text, nullable=True),               # denial reason, ...
)
Index("ix_audit_events_recorded", audit_events.c.recorded)
Index("ix_audit_events_entity", audit_events.c.resource_type, audit_events.c.resource_id)
Index("ix_audit_events_client", audit_events.c.client_id, audit_events.c.recorded)

# -- people who log in to the pages (fhirsvc/security/users.py, docs/ui.md; migration 0013) -----
ui_users = Table(
    "ui_users", metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),    # scrypt$n$r$p$salt$hash (hashlib.scrypt)
    Column("scope", Text, nullable=False),            # space-separated user/ scopes
    Column("created", BigInteger, nullable=False),
    Column("sessions_after", BigInteger, nullable=False, default=0),  # older sessions refused
    Column("disabled", Boolean, nullable=False, default=False),
)

# Failed logins, by user name and by source address (the rate limit counts the recent ones).
ui_login_failures = Table(
    "ui_login_failures", metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),       # "user:NAME" or "addr:ADDRESS"
    Column("at", BigInteger, nullable=False),         # microseconds since the epoch
)
Index("ix_ui_login_failures_key_at", ui_login_failures.c.key, ui_login_failures.c.at)
