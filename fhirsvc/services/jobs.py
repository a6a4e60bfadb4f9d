"""Job status for people and doors that only look (the feeds page): the jobs repository
through the queue, read only. Enqueueing stays with the door that owns a kind (CLI, Bulk Data
kick-off)."""
from __future__ import annotations

from ..jobs.queue import JobQueue
from ..outcomes import fail


class JobsService:
    def __init__(self, db):
        self._queue = JobQueue(db)

    def list(self, ctx, kind: str | None = None, limit: int = 50) -> list:
        """The newest jobs first (storage.jobs.Job values)."""
        return self._queue.list(kind=kind, limit=limit)

    def get(self, ctx, job_id: int):
        job = self._queue.get(job_id)
        if job is None:
            raise fail(404, "not-found", f"No job {job_id}")
        return job
