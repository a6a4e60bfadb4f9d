"""Every SQL statement of the job queue (docs/jobs.md), bound to one connection.

    with db.unit_of_work(write=True) as uow:
        job = Jobs(uow.conn).enqueue("reindex", {"batch": 500})
        uow.commit()

The caller owns the transaction. Claims and state changes run in their own short write
transaction (`unit_of_work(write=True)`, which is BEGIN IMMEDIATE on SQLite); a handler's
checkpoint may join the transaction of the work it records, so both commit or neither does.
Every change to a running job is fenced by its owner: a worker that has lost its job (heartbeat
expired, taken over) changes nothing, and learns that from the return value.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import orjson
from sqlalchemy import (and_, case, delete, false, func, insert, literal, or_, select, true,
                        update)

from .. import jsontext

from .dialect import advisory_lock, skip_locked
from .repository import micros_to_instant
from .tables import JOB_STATES
from .tables import jobs as J

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = JOB_STATES
ACTIVE = (QUEUED, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
UNSET: Any = object()  # "leave this column as it is"


def now_micros() -> int:
    return time.time_ns() // 1000


def _dumps(value) -> str | None:
    return None if value is None else orjson.dumps(value, default=jsontext.default).decode()


def _loads(text: str | None):
    return None if text is None else orjson.loads(text)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    params: dict
    state: str
    cancel_requested: bool
    attempts: int
    max_attempts: int
    run_after: int
    requested_by: str | None
    owner: str | None
    heartbeat: int | None
    cursor: Any
    progress_done: int
    progress_total: int | None
    progress_note: str | None
    result: Any
    error: str | None
    created: int
    started: int | None
    finished: int | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def fraction(self) -> float | None:
        if not self.progress_total:
            return 1.0 if self.state == SUCCEEDED else None
        return min(1.0, self.progress_done / self.progress_total)

    def progress_text(self) -> str:
        """'37% (370 of 1000)', with the handler's note if it left one (Bulk Data X-Progress)."""
        parts = []
        if self.progress_total:
            parts.append(f"{int(self.fraction * 100)}% ({self.progress_done} of "
                         f"{self.progress_total})")
        elif self.progress_done:
            parts.append(str(self.progress_done))
        if self.progress_note:
            parts.append(self.progress_note)
        return ", ".join(parts) or self.state

    def as_dict(self) -> dict:
        """Plain data for the CLI and the API, times as instants."""
        out = asdict(self)
        for key in ("run_after", "heartbeat", "created", "started", "finished"):
            if out[key] is not None:
                out[key] = micros_to_instant(out[key])
        out["progress"] = self.progress_text()
        return out


def _job(row) -> Job:
    return Job(row.id, row.kind, _loads(row.params) or {}, row.state, bool(row.cancel_requested),
               row.attempts, row.max_attempts, row.run_after, row.requested_by, row.owner,
               row.heartbeat, _loads(row.cursor), row.progress_done, row.progress_total,
               row.progress_note, _loads(row.result), row.error, row.created, row.started,
               row.finished)


_ALL = tuple(J.c)


class Jobs:
    def __init__(self, conn):
        self.conn = conn

    def _fenced(self, job_id: int, owner: str):
        """WHERE for changes only the worker running the job may make."""
        return and_(J.c.id == job_id, J.c.owner == owner, J.c.state == RUNNING)

    # -- enqueue and read ----------------------------------------------------------------------
    def enqueue(self, kind: str, params: dict | None = None, *, max_attempts: int = 3,
                requested_by: str | None = None, run_after: int | None = None,
                max_active: int | None = None, now: int | None = None) -> Job | None:
        """A new queued job; None when `max_active` jobs of this kind (for this requester, if
        given) are already queued or running (Bulk Data answers 429 then)."""
        now = now or now_micros()
        if max_active is not None:
            # count-then-insert must not race another enqueue of the same kind
            advisory_lock(self.conn, f"jobs:enqueue:{kind}")
            if self.count_active(kind, requested_by) >= max_active:
                return None
        row = self.conn.execute(insert(J).values(
            kind=kind, params=_dumps(params or {}), state=QUEUED, cancel_requested=False,
            attempts=0, max_attempts=max_attempts, run_after=run_after or now,
            requested_by=requested_by, progress_done=0, created=now).returning(*_ALL)).one()
        return _job(row)

    def get(self, job_id: int) -> Job | None:
        row = self.conn.execute(select(*_ALL).where(J.c.id == job_id)).first()
        return _job(row) if row else None

    def list(self, kind: str | None = None, states: Iterable[str] | None = None,
             requested_by: str | None = None, limit: int = 50) -> list[Job]:
        """Newest first."""
        q = select(*_ALL).order_by(J.c.id.desc()).limit(limit)
        if kind:
            q = q.where(J.c.kind == kind)
        if states:
            q = q.where(J.c.state.in_(list(states)))
        if requested_by:
            q = q.where(J.c.requested_by == requested_by)
        return [_job(r) for r in self.conn.execute(q)]

    def count_active(self, kind: str, requested_by: str | None = None) -> int:
        q = select(func.count()).select_from(J).where(J.c.kind == kind, J.c.state.in_(ACTIVE))
        if requested_by:
            q = q.where(J.c.requested_by == requested_by)
        return self.conn.execute(q).scalar_one()

    # -- claiming ------------------------------------------------------------------------------
    def has_ready(self, kinds: Iterable[str], now: int, job_id: int | None = None) -> bool:
        """A cheap read before the claim, so idle workers do not take the write lock."""
        q = select(J.c.id).where(J.c.state == QUEUED, J.c.run_after <= now,
                                 J.c.kind.in_(list(kinds))).limit(1)
        if job_id is not None:
            q = q.where(J.c.id == job_id)
        return self.conn.execute(q).first() is not None

    def claim(self, owner: str, kinds: Iterable[str], now: int | None = None,
              job_id: int | None = None) -> Job | None:
        """Take the oldest ready job of these kinds (or job `job_id`): running, ours, one more
        attempt. Commit promptly: on PostgreSQL the row stays locked until then."""
        now = now or now_micros()
        pick = (select(J.c.id).where(J.c.state == QUEUED, J.c.run_after <= now,
                                     J.c.kind.in_(list(kinds)))
                .order_by(J.c.id).limit(1))
        if job_id is not None:
            pick = pick.where(J.c.id == job_id)
        pick = skip_locked(pick, self.conn)
        row = self.conn.execute(
            update(J).where(J.c.id == pick.scalar_subquery(), J.c.state == QUEUED)
            .values(state=RUNNING, owner=owner, heartbeat=now, attempts=J.c.attempts + 1,
                    started=func.coalesce(J.c.started, now))
            .returning(*_ALL)).first()
        return _job(row) if row else None

    # -- while running (fenced by owner) -------------------------------------------------------
    def heartbeat(self, job_id: int, owner: str, now: int | None = None) -> bool | None:
        """Still alive. Returns whether cancellation was requested; None if the job is no
        longer ours."""
        return self.checkpoint(job_id, owner, now)

    def checkpoint(self, job_id: int, owner: str, now: int | None = None, *, cursor=UNSET,
                   done: int | None = None, total: int | None = UNSET, note=UNSET
                   ) -> bool | None:
        """Save the resumable cursor and progress (and beat the heart). Returns whether
        cancellation was requested; None if the job is no longer ours."""
        values: dict = {"heartbeat": now or now_micros()}
        if cursor is not UNSET:
            values["cursor"] = _dumps(cursor)
        if done is not None:
            values["progress_done"] = done
        if total is not UNSET:
            values["progress_total"] = total
        if note is not UNSET:
            values["progress_note"] = None if note is None else str(note)[:200]
        row = self.conn.execute(update(J).where(self._fenced(job_id, owner)).values(**values)
                                .returning(J.c.cancel_requested)).first()
        return None if row is None else bool(row.cancel_requested)

    def complete(self, job_id: int, owner: str, result=None, now: int | None = None) -> bool:
        res = self.conn.execute(update(J).where(self._fenced(job_id, owner)).values(
            state=SUCCEEDED, result=_dumps(result), finished=now or now_micros()))
        return res.rowcount == 1

    def fail(self, job_id: int, owner: str, error: str, retry_at: int | None = None,
             now: int | None = None) -> str | None:
        """Record a failure: queued again (from its cursor) at `retry_at` while attempts are
        left and nobody asked to cancel, else failed (or cancelled). Returns the new state, None
        if the job is no longer ours."""
        now = now or now_micros()
        if retry_at is not None:
            res = self.conn.execute(update(J).where(
                self._fenced(job_id, owner), J.c.cancel_requested == false(),
                J.c.attempts < J.c.max_attempts).values(
                state=QUEUED, owner=None, heartbeat=None, run_after=retry_at, error=error))
            if res.rowcount == 1:
                return QUEUED
        row = self.conn.execute(update(J).where(self._fenced(job_id, owner)).values(
            state=case((J.c.cancel_requested == true(), CANCELLED), else_=FAILED),
            error=error, finished=now).returning(J.c.state)).first()
        return row.state if row else None

    def finish_cancelled(self, job_id: int, owner: str, now: int | None = None) -> bool:
        """The handler saw the cancellation and stopped."""
        res = self.conn.execute(update(J).where(self._fenced(job_id, owner)).values(
            state=CANCELLED, finished=now or now_micros()))
        return res.rowcount == 1

    def release(self, job_id: int, owner: str, run_after: int | None = None,
                now: int | None = None) -> bool:
        """Back to the queue without counting the attempt (worker shutting down, or the
        handler asked to run later, e.g. a remote server's rate limit)."""
        now = now or now_micros()
        res = self.conn.execute(update(J).where(self._fenced(job_id, owner)).values(
            state=QUEUED, owner=None, heartbeat=None, run_after=run_after or now,
            attempts=J.c.attempts - 1))
        return res.rowcount == 1

    # -- by anyone -----------------------------------------------------------------------------
    def cancel(self, job_id: int, now: int | None = None) -> Job | None:
        """A queued job is cancelled at once; a running one is marked and its handler stops at
        its next checkpoint; a finished one is left as it is. One statement, so it cannot miss
        a job that is being claimed or requeued at the same moment."""
        now = now or now_micros()
        queued = J.c.state == QUEUED
        self.conn.execute(update(J).where(J.c.id == job_id, J.c.state.in_(ACTIVE)).values(
            cancel_requested=True,
            state=case((queued, CANCELLED), else_=J.c.state),
            finished=case((queued, now), else_=J.c.finished)))
        return self.get(job_id)

    def has_stale(self, cutoff: int) -> bool:
        q = select(J.c.id).where(J.c.state == RUNNING, J.c.heartbeat < cutoff).limit(1)
        return self.conn.execute(q).first() is not None

    def requeue_expired(self, cutoff: int, now: int | None = None) -> list[tuple[int, str]]:
        """Running jobs whose heartbeat is older than `cutoff` (their worker died or hangs):
        queued again to resume from their cursor, or failed when no attempts are left, or
        cancelled if that was asked. Returns (id, new state) of each."""
        now = now or now_micros()
        cancelled = J.c.cancel_requested == true()
        exhausted = J.c.attempts >= J.c.max_attempts
        ends = or_(cancelled, exhausted)
        lost = literal("no heartbeat from worker ") + func.coalesce(J.c.owner, "?")
        rows = self.conn.execute(
            update(J).where(J.c.state == RUNNING, J.c.heartbeat < cutoff).values(
                state=case((cancelled, CANCELLED), (exhausted, FAILED), else_=QUEUED),
                error=case((cancelled, J.c.error),
                           (exhausted, lost + literal("; no attempts left")),
                           else_=lost + literal("; queued again to resume from its checkpoint")),
                finished=case((ends, now), else_=None),
                owner=case((ends, J.c.owner), else_=None),
                heartbeat=case((ends, J.c.heartbeat), else_=None),
                run_after=case((ends, J.c.run_after), else_=now))
            .returning(J.c.id, J.c.state)).all()
        return [(r.id, r.state) for r in rows]

    # -- expiry (results of kinds with a time to live, e.g. Bulk Data files) -------------------
    def take_expired(self, kind: str, cutoff: int) -> Job | None:
        """One finished job of `kind` that finished before `cutoff`, locked (PostgreSQL) until
        the caller deletes it and commits, so its clean-up runs once."""
        q = (select(*_ALL).where(J.c.kind == kind, J.c.state.in_(TERMINAL),
                                 J.c.finished <= cutoff).order_by(J.c.finished).limit(1))
        row = self.conn.execute(skip_locked(q, self.conn)).first()
        return _job(row) if row else None

    def delete(self, job_id: int) -> bool:
        return self.conn.execute(delete(J).where(J.c.id == job_id)).rowcount == 1
