"""Job status for people and doors that only look (the feeds page): the jobs repository
through the queue, read only. Enqueueing stays with the door that owns a kind (CLI, Bulk Data
kick-off)."""
from __future__ import annotations

from ..jobs.queue import JobQueue
from ..outcomes import fail
from ..security.scopes import ADMIN_SCOPE


class JobsService:
    def __init__(self, db, guard=None):
        self._queue = JobQueue(db)

    @staticmethod
    def _require(ctx) -> None:
        """Every client's jobs (their parameters, results, errors): the server's operators
        only, once auth is on."""
        if ctx.enforce and ADMIN_SCOPE not in ctx.scopes:
            from ..security.guard import forbidden
            raise forbidden(f"Insufficient scope: the job list needs the scope {ADMIN_SCOPE}")

    def list(self, ctx, kind: str | None = None, limit: int = 50) -> list:
        """The newest jobs first (storage.jobs.Job values)."""
        self._require(ctx)
        return self._queue.list(kind=kind, limit=limit)

    def get(self, ctx, job_id: int):
        self._require(ctx)
        job = self._queue.get(job_id)
        if job is None:
            raise fail(404, "not-found", f"No job {job_id}")
        return job
