"""The version a reference names, in the reference index (versioned reference search).

Revision ID: 0014
Revises: 0013

`Provenance?target=Patient/1/_history/2` must match only references to that version;
idx_reference kept the target's type and id only, so it matched every version. The new
nullable column `target_version` holds the version of `.../_history/v` references (mirrors
`idx_reference` in fhirsvc/storage/tables.py). Rows written before it have none. Only a
resource whose stored text holds `/_history/` can have a versioned reference, and every other
resource's rows are already what this code writes: a `reindex` job limited to those
(`containing`) is queued when the database holds resources, unless a full one is queued
already (0011's, upgraded across both). The job worker beside the server runs it (`python -m
fhirsvc worker` runs it in the foreground); until then a versioned search does not find the
references stored before. (It rebuilt every row before: hours on a large database.)
"""
import json
import time

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idx_reference", sa.Column("target_version", sa.String(64), nullable=True))
    bind = op.get_bind()
    # a full reindex still queued (0011's, on a database upgraded across both) rebuilds every
    # row with this code anyway: one is enough
    queued = bind.execute(sa.text(
        "SELECT params FROM jobs WHERE kind = 'reindex' AND state = 'queued'")).scalars().all()
    full = any("containing" not in (json.loads(p) if isinstance(p, str) else p or {})
               for p in queued)
    if not full and \
            bind.execute(sa.text("SELECT 1 FROM resources LIMIT 1")).first() is not None:
        now = time.time_ns() // 1000
        bind.execute(sa.text(
            "INSERT INTO jobs (kind, params, state, cancel_requested, attempts, max_attempts, "
            "run_after, requested_by, progress_done, created) VALUES ('reindex', :p, 'queued', "
            ":f, 0, 3, :now, 'migration 0014 (reference versions)', 0, :now)"),
            {"p": json.dumps({"batch": 500, "containing": "/_history/"}), "f": False,
             "now": now})


def downgrade() -> None:
    with op.batch_alter_table("idx_reference") as batch:
        batch.drop_column("target_version")
