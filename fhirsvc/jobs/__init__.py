"""Background jobs: every long task is a row in the `jobs` table, run by a worker process.

    queue = JobQueue(runtime.db)
    job = queue.enqueue("reindex", {"batch": 500})
    Worker(runtime).run()                   # `python -m fhirsvc worker`; `serve` starts one

Modules: `kinds` (JobKind, the Kinds registry, the built-in kinds), `context` (what a handler
is given: checkpoint, progress, step, cancellation), `worker` (claim, heartbeat, outcome,
takeover of jobs whose worker died), `queue` (enqueue / get / list / cancel / wait), `reindex`
(the first kind). Every SQL statement is in storage/jobs.py. See docs/jobs.md.
"""
from ..storage.jobs import ACTIVE, TERMINAL, Job
from .context import Cancelled, JobContext, JobError, JobLost, RetryLater, Stopped
from .kinds import JobKind, Kinds, builtin_kinds
from .queue import JobQueue
from .worker import Worker

__all__ = ["ACTIVE", "TERMINAL", "Cancelled", "Job", "JobContext", "JobError", "JobKind",
           "JobLost", "JobQueue", "Kinds", "RetryLater", "Stopped", "Worker", "builtin_kinds"]
