"""What a job kind's handler is given: its job, the runtime, and the calls that save a resumable
cursor, report progress and notice cancellation.

    def run(self, job, ctx):
        cursor = ctx.cursor or START          # the last checkpoint, if this is a resumption
        while ...:
            with ctx.step() as uow:           # one write transaction ...
                ...work with uow...
                ctx.checkpoint(cursor, done=n, total=t)   # ... that also records the cursor
            # after the commit: Cancelled / Stopped / JobLost are raised here if due
        return {"result": ...}

A checkpoint outside a step runs in its own transaction (work done elsewhere, e.g. files
written or pages fetched, is then at least once: the handler makes replaying it harmless).
"""
from __future__ import annotations

import contextlib
import logging
import threading

from ..storage.jobs import UNSET, Job, Jobs


class JobInterrupt(BaseException):
    """Stops a handler from inside one of the context's calls. A BaseException (like
    KeyboardInterrupt), so handler code catching Exception does not swallow it."""


class Cancelled(JobInterrupt):
    """Someone cancelled the job: the worker marks it cancelled."""


class Stopped(JobInterrupt):
    """The worker is shutting down: the job goes back to the queue, to resume elsewhere."""


class JobLost(JobInterrupt):
    """The job is no longer ours (our heartbeat expired and it was requeued or taken over):
    the worker leaves the row alone, and the step that noticed is rolled back."""


class JobError(Exception):
    """A failure that retrying cannot fix (bad parameters, missing input): fails the job at
    once with this message."""


class RetryLater(Exception):
    """Back to the queue for `seconds` without using up an attempt (e.g. a remote server's
    429 with Retry-After). The cursor saved so far is kept."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(reason or f"retry in {seconds} s")
        self.seconds = seconds


class JobContext:
    def __init__(self, job: Job, runtime, owner: str, stopping: threading.Event,
                 log: logging.Logger | logging.LoggerAdapter | None = None):
        self.job = job
        self.runtime = runtime
        self.db = runtime.db
        self.owner = owner
        self.log = log or logging.getLogger("fhirsvc.jobs")
        self.cursor = job.cursor  # the last committed checkpoint (None: starting afresh)
        self._stopping = stopping
        self._cancelled = threading.Event()
        self._lost = threading.Event()
        self._wake = threading.Event()
        self._step_uow = None
        self._uncommitted = UNSET

    @property
    def resumed(self) -> bool:
        """A previous attempt left a checkpoint: continue from `cursor`."""
        return self.job.cursor is not None

    # -- called by the handler -----------------------------------------------------------------
    @contextlib.contextmanager
    def step(self):
        """A write transaction (a UnitOfWork) for one unit of work and its checkpoint: both are
        committed together or neither is. Cancellation or shutdown noticed meanwhile is raised
        after the commit, so finished work is kept."""
        self.check()
        with self.db.unit_of_work(write=True) as uow:
            self._step_uow = uow
            try:
                yield uow
                uow.commit()
            finally:
                self._step_uow = None
                saved, self._uncommitted = self._uncommitted, UNSET
        if saved is not UNSET:
            self.cursor = saved
        self.check()

    def checkpoint(self, cursor=UNSET, *, done: int | None = None, total: int | None = UNSET,
                   note: str | None = UNSET) -> None:
        """Save the cursor to resume from and the progress (done of total, an optional note).
        Inside a step it joins the step's transaction; outside, it commits on its own and then
        raises Cancelled or Stopped if either is due."""
        if self._step_uow is not None:
            self._save(self._step_uow.jobs, cursor, done, total, note)
            if cursor is not UNSET:
                self._uncommitted = cursor  # becomes `self.cursor` once the step commits
            return
        with self.db.unit_of_work(write=True) as uow:
            self._save(uow.jobs, cursor, done, total, note)
            uow.commit()
        if cursor is not UNSET:
            self.cursor = cursor
        self.check()

    def progress(self, done: int, total: int | None = UNSET, note: str | None = UNSET) -> None:
        """A checkpoint that leaves the cursor as it is."""
        self.checkpoint(done=done, total=total, note=note)

    def check(self) -> None:
        """Raise JobLost, Cancelled or Stopped if one is due (cheap: no database access)."""
        if self._lost.is_set():
            raise JobLost(f"job {self.job.id} was taken over by another worker")
        if self._cancelled.is_set():
            raise Cancelled(f"job {self.job.id} was cancelled")
        if self._stopping.is_set():
            raise Stopped(f"worker {self.owner} is stopping")

    def sleep(self, seconds: float) -> None:
        """Wait (rate limits, pauses between batches), waking early to stop or be cancelled."""
        self.check()
        self._wake.wait(seconds)
        self.check()

    # -- called by the worker and its heartbeat ------------------------------------------------
    def _save(self, jobs: Jobs, cursor, done, total, note) -> None:
        flag = jobs.checkpoint(self.job.id, self.owner, cursor=cursor, done=done, total=total,
                               note=note)
        if flag is None:
            self.lost()
            self.check()  # raises JobLost: the enclosing step rolls back
        if flag:
            self.cancel_seen()

    def cancel_seen(self) -> None:
        self._cancelled.set()
        self._wake.set()

    def lost(self) -> None:
        self._lost.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()
