"""The `reindex` job kind: rebuild every search index row from the current versions (after
search parameters change, or after an upgrade that indexes differently).

One batch of resources (by primary key) per transaction, each with its checkpoint, so a crash
resumes after the last batch done and a cancellation stops between batches. A resource's old
rows go and its new rows come in the same transaction: a search never sees it without rows.
Rows are extracted before that transaction begins, so it holds the write lock only to write.

params: batch (resources per transaction, default 500), pause (seconds between batches, to
leave the database to other writers; default 0), containing (only the resources whose current
stored text holds this string: an upgrade whose new rows differ only for such resources, as
0014's versioned references `/_history/`, rebuilds those and leaves the rest alone).
cursor: {"after": last primary key done, "seen": resources done, "indexed": of them not deleted}
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..storage.errors import ConflictError
from .context import JobError
from .kinds import JobKind

log = logging.getLogger("fhirsvc.jobs.reindex")

TRANSIENT_RETRIES = 5


@dataclass
class Batch:
    pks: list[int]               # the batch's resources, in key order
    versions: dict[int, int]     # their versions when read
    live: set[int]               # those not deleted
    rows: dict[int, tuple[str, dict]]  # pk -> (type, new index rows by parameter type)


def read_batch(db, indexer, after: int, limit: int, containing: str | None = None
               ) -> Batch | None:
    """The next `limit` resources after primary key `after` (whose text holds `containing`)
    and their new index rows, read and extracted outside any write transaction (extraction is
    most of the work: writers are not kept waiting meanwhile). None when none is left."""
    with db.unit_of_work() as uow:
        pks = uow.index.keys_after(after, limit, containing)
        if not pks:
            return None
        current = uow.resources.read_many(pks)
    live = {pk for pk, s in current.items() if not s.deleted}
    rows = {pk: (current[pk].resource_type, indexer.rows(current[pk].resource_type,
                                                         current[pk].resource()))
            for pk in sorted(live)}
    return Batch(pks, {pk: s.version for pk, s in current.items()}, live, rows)


def write_batch(uow, indexer, batch: Batch) -> int:
    """Replace the batch's index rows in the caller's write transaction; returns how many of
    its resources were indexed (not deleted).

    The batch's resources are locked first, so no update commits between this check and our
    commit; any resource whose version moved since read_batch is extracted again here. Old
    rows go and new rows come in this one transaction, deleted by the keys read (not by key
    range: a resource created meanwhile keeps the rows its own transaction wrote).
    """
    now = uow.index.lock_versions(batch.pks)
    changed = {pk for pk in batch.pks if now.get(pk) != batch.versions.get(pk)}
    rows = {pk: r for pk, r in batch.rows.items() if pk not in changed}
    if changed:
        for pk, s in uow.resources.read_many(sorted(changed)).items():
            if not s.deleted:
                rows[pk] = (s.resource_type, indexer.rows(s.resource_type, s.resource()))
    uow.index.delete(batch.pks)
    uow.index.write_rows((pk, rtype, by_kind) for pk, (rtype, by_kind) in sorted(rows.items()))
    return len(rows)


def _search_parameters_caught_up(runtime) -> None:
    """SearchParameters stored through the API (by any process) count from the first batch."""
    runtime.services.conformance(force=True)


class Reindex(JobKind):
    name = "reindex"

    def parameters(self, params: dict) -> dict:
        unknown = set(params) - {"batch", "pause", "containing"}
        if unknown:
            raise ValueError(f"reindex takes batch, pause and containing, not "
                             f"{', '.join(sorted(unknown))}")
        containing = params.get("containing")
        if containing is not None and (not isinstance(containing, str) or not containing):
            raise ValueError(f"reindex containing must be a non-empty string, not "
                             f"{containing!r}")
        batch, pause = params.get("batch", 500), params.get("pause", 0)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10_000:
            raise ValueError(f"reindex batch must be a whole number from 1 to 10000, not {batch!r}")
        if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 <= pause <= 60:
            raise ValueError(f"reindex pause must be 0 to 60 seconds, not {pause!r}")
        return {"batch": batch, "pause": pause} | (
            {"containing": containing} if containing is not None else {})

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
        containing = params.get("containing")
        with runtime.db.unit_of_work() as uow:
            total = uow.resources.count(include_deleted=True) if containing is None \
                else uow.index.count_containing(containing)
        ctx.checkpoint(cursor, done=cursor["seen"], total=max(total, cursor["seen"]))
        last_log = time.monotonic()
        while True:
            step = self._batch(ctx, runtime.db.indexer, cursor, params["batch"], total,
                               containing)
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
    def _batch(ctx, indexer, cursor: dict, size: int, total: int,
               containing: str | None = None) -> dict | None:
        """One batch: read and extract, then its rows and checkpoint in one transaction, run
        again on a deadlock (the batch is idempotent). The new cursor, None when done."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                batch = read_batch(ctx.db, indexer, cursor["after"], size, containing)
                if batch is None:
                    return None
                with ctx.step() as uow:
                    indexed = write_batch(uow, indexer, batch)
                    new = {"after": batch.pks[-1], "seen": cursor["seen"] + len(batch.pks),
                           "indexed": cursor["indexed"] + indexed}
                    ctx.checkpoint(new, done=new["seen"], total=max(total, new["seen"]))
                return new
            except ConflictError as exc:  # a deadlock or a busy database: the batch is redone
                if attempt == TRANSIENT_RETRIES - 1:
                    raise
                ctx.log.warning("job %s: batch after key %s: %s; running it again",
                                ctx.job.id, cursor["after"], exc)
                ctx.sleep(0.1 * 2 ** attempt)
        return None  # not reached
