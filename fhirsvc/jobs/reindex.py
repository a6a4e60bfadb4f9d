"""The `reindex` job kind: rebuild every search index row from the current versions (after
search parameters change, or after an upgrade that indexes differently).

One batch of resources (by primary key) per transaction, each with its checkpoint, so a crash
resumes after the last batch done and a cancellation stops between batches. A resource's old
rows go and its new rows come in the same transaction: a search never sees it without rows.

params: batch (resources per transaction, default 500), pause (seconds between batches, to
leave the database to other writers; default 0).
cursor: {"after": last primary key done, "seen": resources done, "indexed": of them not deleted}
"""
from __future__ import annotations

import logging
import time

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError

from ..search.tables import ALL_TABLES
from ..storage.jobs import is_transient
from ..storage.tables import resources as R
from .kinds import JobKind

log = logging.getLogger("fhirsvc.jobs.reindex")

TRANSIENT_RETRIES = 5


def reindex_batch(uow, indexer, after: int, limit: int) -> tuple[int | None, int, int]:
    """Replace the index rows of the next `limit` resources after primary key `after`, in the
    caller's transaction. Returns (last primary key, resources seen, resources indexed); the
    key is None when no resource is left.

    The one place this kind touches index rows (today Indexer.rows/insert and
    Repository.read_many): re-point it when the storage rework lands. FOR UPDATE locks the
    batch's resources on PostgreSQL, so an update cannot commit its rows between our read and
    our write (SQLite renders no FOR UPDATE: BEGIN IMMEDIATE already keeps writers out). Rows
    are deleted by the keys read, not by key range, so a resource created meanwhile keeps the
    rows its own transaction wrote.
    """
    pks = [row.pk for row in uow.conn.execute(
        select(R.c.pk).where(R.c.pk > after).order_by(R.c.pk).limit(limit).with_for_update())]
    if not pks:
        return None, 0, 0
    for table in ALL_TABLES:
        for start in range(0, len(pks), 500):
            uow.conn.execute(delete(table).where(table.c.res_pk.in_(pks[start:start + 500])))
    current = uow.resources.read_many(pks)
    items = [(s.pk, s.resource_type, s.resource()) for s in current.values() if not s.deleted]
    indexer.insert(uow.conn, indexer.rows(items))
    return pks[-1], len(pks), len(items)


def _search_parameters_caught_up(runtime) -> None:
    """SearchParameters stored through the API (by any process) count from the first batch."""
    runtime.service.sync_conformance()


class Reindex(JobKind):
    name = "reindex"

    def parameters(self, params: dict) -> dict:
        unknown = set(params) - {"batch", "pause"}
        if unknown:
            raise ValueError(f"reindex takes batch and pause, not {', '.join(sorted(unknown))}")
        batch, pause = params.get("batch", 500), params.get("pause", 0)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
            raise ValueError(f"reindex batch must be a whole number from 1 to 10000, not {batch!r}")
        if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 <= pause <= 60:
            raise ValueError(f"reindex pause must be 0 to 60 seconds, not {pause!r}")
        return {"batch": batch, "pause": pause}

    def run(self, job, ctx):
        params = self.parameters(job.params)
        runtime = ctx.runtime
        _search_parameters_caught_up(runtime)
        cursor = ctx.cursor or {"after": 0, "seen": 0, "indexed": 0}
        if ctx.resumed:
            ctx.log.info("job %s: reindex resuming after resource key %s (%s done)", job.id,
                         cursor["after"], cursor["seen"])
        with runtime.db.unit_of_work() as uow:
            total = uow.resources.count(include_deleted=True)
        ctx.checkpoint(cursor, done=cursor["seen"], total=max(total, cursor["seen"]))
        last_log = time.monotonic()
        while True:
            step = self._batch(ctx, runtime.db.indexer, cursor, params["batch"], total)
            if step is None:
                break
            cursor = step
            if time.monotonic() - last_log >= 10:
                ctx.log.info("job %s: reindex %d of %d resources", job.id, cursor["seen"],
                             max(total, cursor["seen"]))
                last_log = time.monotonic()
            if params["pause"]:
                ctx.sleep(params["pause"])
        return {"indexed": cursor["indexed"], "resources": cursor["seen"]}

    @staticmethod
    def _batch(ctx, indexer, cursor: dict, size: int, total: int) -> dict | None:
        """One batch and its checkpoint in one transaction, run again on a deadlock (the
        batch is idempotent). The new cursor, or None when nothing is left."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                with ctx.step() as uow:
                    last, seen, indexed = reindex_batch(uow, indexer, cursor["after"], size)
                    if last is None:
                        return None
                    new = {"after": last, "seen": cursor["seen"] + seen,
                           "indexed": cursor["indexed"] + indexed}
                    ctx.checkpoint(new, done=new["seen"], total=max(total, new["seen"]))
                return new
            except DBAPIError as exc:
                if not is_transient(exc) or attempt == TRANSIENT_RETRIES - 1:
                    raise
                ctx.log.warning("job %s: batch after key %s: %s; running it again",
                                ctx.job.id, cursor["after"], exc.orig)
                ctx.sleep(0.1 * 2 ** attempt)
        return None  # not reached
