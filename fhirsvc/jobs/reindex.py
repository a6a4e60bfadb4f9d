"""The `reindex` job kind: rebuild every search index row from the current versions (after
search parameters change, or after an upgrade that indexes differently).

One batch of resources (by primary key) per transaction, each with its checkpoint, so a crash
resumes after the last batch done and a cancellation stops between batches. A resource's old
rows go and its new rows come in the same transaction: a search never sees it without rows.
Rows are extracted before that transaction begins, so it holds the write lock only to write.

params: batch (resources per transaction, default 500), pause (seconds between batches, to
leave the database to other writers; default 0).
cursor: {"after": last primary key done, "seen": resources done, "indexed": of them not deleted}
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError

from ..search.tables import ALL_TABLES
from ..storage.jobs import is_transient
from ..storage.tables import resources as R
from .context import JobError
from .kinds import JobKind

log = logging.getLogger("fhirsvc.jobs.reindex")

TRANSIENT_RETRIES = 5


@dataclass
class Batch:
    pks: list[int]               # the batch's resources, in key order
    versions: dict[int, int]     # their versions when read
    live: set[int]               # those not deleted
    rows: dict[str, list[tuple]]  # their new index rows, by parameter type


def read_batch(db, indexer, after: int, limit: int) -> Batch | None:
    """The next `limit` resources after primary key `after` and their new index rows, read and
    extracted outside any write transaction (extraction is most of the work: writers are not
    kept waiting meanwhile). None when no resource is left."""
    with db.unit_of_work() as uow:
        pks = [row.pk for row in uow.conn.execute(
            select(R.c.pk).where(R.c.pk > after).order_by(R.c.pk).limit(limit))]
        if not pks:
            return None
        current = uow.resources.read_many(pks)
    live = {pk for pk, s in current.items() if not s.deleted}
    items = [(pk, current[pk].resource_type, current[pk].resource()) for pk in sorted(live)]
    return Batch(pks, {pk: s.version for pk, s in current.items()}, live, indexer.rows(items))


def write_batch(uow, indexer, batch: Batch) -> int:
    """Replace the batch's index rows in the caller's write transaction; returns how many of
    its resources were indexed (not deleted).

    The batch's resources are locked first (FOR UPDATE on PostgreSQL; SQLite renders none, its
    BEGIN IMMEDIATE already keeps writers out), so no update commits between this check and
    our commit; any resource whose version moved since read_batch is extracted again here.
    Old rows go and new rows come in this one transaction, deleted by the keys read (not by key
    range: a resource created meanwhile keeps the rows its own transaction wrote).

    With read_batch, the one place this kind touches index rows (today Indexer.rows/insert and
    Repository.read_many): re-point them when the storage rework lands.
    """
    conn = uow.conn
    now: dict[int, int] = {}
    for start in range(0, len(batch.pks), 500):
        chunk = batch.pks[start:start + 500]
        for pk, version in conn.execute(select(R.c.pk, R.c.version).where(R.c.pk.in_(chunk))
                                        .with_for_update()):
            now[pk] = version
    changed = {pk for pk in batch.pks if now.get(pk) != batch.versions.get(pk)}
    rows, live = batch.rows, set(batch.live)
    if changed:
        current = uow.resources.read_many(sorted(changed))
        fresh = [(pk, s.resource_type, s.resource()) for pk, s in sorted(current.items())
                 if not s.deleted]
        live = (live - changed) | {pk for pk, _t, _r in fresh}
        rows = {kind: [r for r in rs if r[0] not in changed] for kind, rs in rows.items()}
        for kind, rs in indexer.rows(fresh).items():
            rows.setdefault(kind, []).extend(rs)
    for table in ALL_TABLES:
        for start in range(0, len(batch.pks), 500):
            conn.execute(delete(table).where(table.c.res_pk.in_(batch.pks[start:start + 500])))
    indexer.insert(conn, rows)
    return len(live)


def _search_parameters_caught_up(runtime) -> None:
    """SearchParameters stored through the API (by any process) count from the first batch."""
    runtime.services.conformance()


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
        try:
            params = self.parameters(job.params)
        except ValueError as exc:  # checked at enqueue; a row written by other means
            raise JobError(str(exc)) from None
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
        """One batch: read and extract, then its rows and checkpoint in one transaction, run
        again on a deadlock (the batch is idempotent). The new cursor, None when done."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                batch = read_batch(ctx.db, indexer, cursor["after"], size)
                if batch is None:
                    return None
                with ctx.step() as uow:
                    indexed = write_batch(uow, indexer, batch)
                    new = {"after": batch.pks[-1], "seen": cursor["seen"] + len(batch.pks),
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
