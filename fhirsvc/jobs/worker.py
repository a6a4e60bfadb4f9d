"""The worker loop: claim a ready job, run its kind's handler with a heartbeat, record how it
ended; between jobs, requeue jobs whose worker died and clean up expired results.

    worker = Worker(build(config))       # all built-in kinds
    worker.run()                         # until worker.stop() (SIGTERM in `fhirsvc worker`)
    worker.run(once=True)                # the jobs that are ready now, then return

Any number of workers, in any number of processes and machines, share one database: the claim
is atomic (storage/jobs.py), so each job runs in one place at a time.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Iterable

import orjson

from .. import jsontext
from ..storage.jobs import Job, now_micros
from .context import Cancelled, JobContext, JobError, JobLost, RetryLater, Stopped
from .kinds import Kinds, builtin_kinds

log = logging.getLogger("fhirsvc.jobs")

MAX_ERROR = 2000  # characters of a handler's exception kept in the job row


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:MAX_ERROR]


class _Heartbeat(threading.Thread):
    """Beats for the running job every `interval` seconds on its own connection, so a handler
    busy in one long call keeps its job; passes on a cancellation or the loss of the job."""

    def __init__(self, db, ctx: JobContext, interval: float):
        super().__init__(name=f"heartbeat-job-{ctx.job.id}", daemon=True)
        self.db, self.ctx, self.interval = db, ctx, interval
        self._done = threading.Event()

    def run(self) -> None:
        job = self.ctx.job
        while not self._done.wait(self.interval):
            try:
                with self.db.unit_of_work(write=True) as uow:
                    flag = uow.jobs.heartbeat(job.id, self.ctx.owner)
                    uow.commit()
            except Exception as exc:  # the next beat may get through; expiry is the backstop
                log.warning("job %s: heartbeat failed: %s", job.id, _message(exc))
                continue
            if flag is None:
                log.warning("job %s: no longer ours (heartbeat expired); stopping it", job.id)
                self.ctx.lost()
                return
            if flag:
                self.ctx.cancel_seen()

    def stop(self) -> None:
        self._done.set()
        self.join()


class Worker:
    def __init__(self, runtime, kinds: Kinds | None = None, only: Iterable[str] | None = None,
                 poll: float | None = None, expiry: float | None = None,
                 owner: str | None = None):
        """`only`: claim just these kinds (default: every kind of `kinds`). `poll` and `expiry`
        (heartbeat expiry, seconds) default to the configuration's job_poll and
        job_heartbeat_expiry; heartbeats come four times per expiry."""
        self.runtime = runtime
        self.db = runtime.db
        self.kinds = kinds or builtin_kinds()
        names = list(only) if only else self.kinds.names()
        for name in names:
            self.kinds.get(name)  # unknown kind: ValueError naming the known ones
        self.names = sorted(set(names))
        config = runtime.config
        self.poll = config.job_poll if poll is None else poll
        self.expiry = config.job_heartbeat_expiry if expiry is None else expiry
        self.interval = self.expiry / 4
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._ctx: JobContext | None = None
        self._last_upkeep = float("-inf")

    # -- the loop ------------------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        """Run jobs until stop(); with `once`, until none is ready. Returns how many ran."""
        log.info("worker %s started: kinds %s, poll %ss, heartbeat expiry %ss", self.owner,
                 ", ".join(self.names), self.poll, self.expiry)
        ran = 0
        while not self._stopping.is_set():
            try:
                job = self.run_one()
            except Exception:  # database unreachable, ...: say so, wait, try again
                log.exception("worker %s: could not claim or record a job", self.owner)
                if once:
                    raise
                self._stopping.wait(max(self.poll, 1.0))
                continue
            if job is not None:
                ran += 1
                continue
            if once:
                break
            self._stopping.wait(self.poll)
        log.info("worker %s stopped after %d job(s)", self.owner, ran)
        return ran

    def stop(self) -> None:
        """Stop after the running handler's next checkpoint (its job goes back to the queue)."""
        self._stopping.set()
        ctx = self._ctx
        if ctx is not None:
            ctx.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run_one(self, job_id: int | None = None) -> Job | None:
        """Upkeep, then claim one ready job (or job `job_id`) and run it. Returns the job as
        it ended, None when nothing was ready."""
        self.upkeep()
        job = self.claim(job_id)
        return self.execute(job) if job is not None else None

    def claim(self, job_id: int | None = None) -> Job | None:
        now = now_micros()
        with self.db.unit_of_work() as uow:
            if not uow.jobs.has_ready(self.names, now, job_id):
                return None
        with self.db.unit_of_work(write=True) as uow:
            job = uow.jobs.claim(self.owner, self.names, now, job_id)
            uow.commit()
        if job is not None:
            log.info("job %s (%s) claimed by %s, attempt %d of %d%s", job.id, job.kind,
                     self.owner, job.attempts, job.max_attempts,
                     ", resuming from its checkpoint" if job.cursor is not None else "")
        return job

    def execute(self, job: Job) -> Job:
        """Run a claimed job's handler and record the outcome."""
        kind = self.kinds.get(job.kind)
        ctx = JobContext(job, self.runtime, self.owner, self._stopping, log)
        self._ctx = ctx
        beat = _Heartbeat(self.db, ctx, self.interval)
        beat.start()
        t0 = time.monotonic()
        try:
            try:
                result = kind.run(job, ctx)
                # a result that cannot be stored is the handler's failure
                orjson.dumps(result, default=jsontext.default)
            finally:
                beat.stop()
        except JobLost:
            log.warning("job %s: taken over by another worker; left to it", job.id)
        except Cancelled:
            self._record(job, lambda jobs: jobs.finish_cancelled(job.id, self.owner))
            log.info("job %s (%s) cancelled", job.id, job.kind)
        except Stopped:
            self._record(job, lambda jobs: jobs.release(job.id, self.owner))
            log.info("job %s (%s) back in the queue: worker stopping", job.id, job.kind)
        except RetryLater as exc:
            at = now_micros() + int(exc.seconds * 1_000_000)
            self._record(job, lambda jobs: jobs.release(job.id, self.owner, run_after=at))
            log.info("job %s (%s) back in the queue for %ss: %s", job.id, job.kind,
                     exc.seconds, exc)
        except JobError as exc:
            message = str(exc)[:MAX_ERROR]
            self._record(job, lambda jobs: jobs.fail(job.id, self.owner, message))
            log.error("job %s (%s) failed: %s", job.id, job.kind, message)
        except Exception as exc:
            log.exception("job %s (%s) raised", job.id, job.kind)
            message = _message(exc)
            at = now_micros() + int(kind.retry_delay(job.attempts) * 1_000_000)
            state = self._record(job, lambda jobs: jobs.fail(job.id, self.owner, message,
                                                             retry_at=at))
            log.info("job %s (%s): %s after attempt %d of %d", job.id, job.kind,
                     "queued for a retry" if state == "queued" else state, job.attempts,
                     job.max_attempts)
        else:
            if self._record(job, lambda jobs: jobs.complete(job.id, self.owner, result)):
                log.info("job %s (%s) succeeded in %.1fs", job.id, job.kind,
                         time.monotonic() - t0)
        finally:
            self._ctx = None
        with self.db.unit_of_work() as uow:
            return uow.jobs.get(job.id) or job

    def _record(self, job: Job, change):
        with self.db.unit_of_work(write=True) as uow:
            outcome = change(uow.jobs)
            uow.commit()
        if not outcome:
            log.warning("job %s: no longer ours, outcome not recorded", job.id)
        return outcome

    # -- upkeep between jobs -------------------------------------------------------------------
    def upkeep(self, force: bool = False) -> None:
        """Requeue jobs whose heartbeat expired; clean up and delete expired results. At most
        once per heartbeat interval, and with a read first, so idle workers stay cheap."""
        now = time.monotonic()
        if not force and now - self._last_upkeep < self.interval:
            return
        self._last_upkeep = now
        self.requeue_expired()
        self.expire_results()

    def requeue_expired(self) -> list[tuple[int, str]]:
        cutoff = now_micros() - int(self.expiry * 1_000_000)
        with self.db.unit_of_work() as uow:
            if not uow.jobs.has_stale(cutoff):
                return []
        with self.db.unit_of_work(write=True) as uow:
            changed = uow.jobs.requeue_expired(cutoff)
            uow.commit()
        for job_id, state in changed:
            log.warning("job %s: no heartbeat for %ss, its worker is gone: now %s", job_id,
                        self.expiry, state)
        return changed

    def expire_results(self, limit: int = 20) -> int:
        """Jobs of kinds with a result_ttl, finished longer ago than that: cleanup(), then the
        row goes, in one transaction that holds the row (so one worker does it)."""
        removed = 0
        for kind in self.kinds:
            if kind.result_ttl is None or kind.name not in self.names:
                continue
            cutoff = now_micros() - int(kind.result_ttl * 1_000_000)
            with self.db.unit_of_work() as uow:
                if uow.jobs.take_expired(kind.name, cutoff) is None:
                    continue
            for _ in range(limit):
                job = None
                try:
                    with self.db.unit_of_work(write=True) as uow:
                        jobs = uow.jobs
                        job = jobs.take_expired(kind.name, cutoff)
                        if job is None:
                            break
                        kind.cleanup(job, self.runtime)
                        jobs.delete(job.id)
                        uow.commit()
                except Exception:  # kept, and tried again at the next upkeep
                    log.exception("job %s (%s): clean-up of the expired result failed",
                                  job.id if job else "?", kind.name)
                    break
                removed += 1
                log.info("job %s (%s): result expired, cleaned up and deleted", job.id,
                         kind.name)
        return removed
