"""Enqueue, inspect, cancel and wait for jobs, each call its own short transaction (the CLI;
the API's kick-off and status endpoints)."""
from __future__ import annotations

import time
from typing import Callable, Iterable

from ..storage.jobs import Job
from .kinds import Kinds, builtin_kinds


class JobQueue:
    def __init__(self, db, kinds: Kinds | None = None):
        self.db = db
        self.kinds = kinds or builtin_kinds()

    def enqueue(self, kind: str, params: dict | None = None, *, requested_by: str | None = None,
                max_active: int | None = None) -> Job | None:
        """A queued job, its parameters checked by its kind (ValueError). None when
        `max_active` jobs of this kind (for this requester) are already queued or running."""
        handler = self.kinds.get(kind)
        params = handler.parameters(params or {})
        with self.db.unit_of_work(write=True) as uow:
            job = uow.jobs.enqueue(kind, params, max_attempts=handler.max_attempts,
                                         requested_by=requested_by, max_active=max_active)
            uow.commit()
        return job

    def get(self, job_id: int) -> Job | None:
        with self.db.unit_of_work() as uow:
            return uow.jobs.get(job_id)

    def list(self, kind: str | None = None, states: Iterable[str] | None = None,
             requested_by: str | None = None, limit: int = 50) -> list[Job]:
        with self.db.unit_of_work() as uow:
            return uow.jobs.list(kind, states, requested_by, limit)

    def cancel(self, job_id: int) -> Job | None:
        with self.db.unit_of_work(write=True) as uow:
            job = uow.jobs.cancel(job_id)
            uow.commit()
        return job

    def wait(self, job_id: int, poll: float = 0.5, timeout: float | None = None,
             on_change: Callable[[Job], None] | None = None) -> Job:
        """Until the job has finished (or `timeout` seconds); `on_change` sees each new state
        or progress."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = None
        while True:
            job = self.get(job_id)
            if job is None:
                raise ValueError(f"no job {job_id}")
            key = (job.state, job.progress_done, job.progress_note, job.attempts)
            if on_change is not None and key != seen:
                on_change(job)
            seen = key
            if job.terminal or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(poll)
