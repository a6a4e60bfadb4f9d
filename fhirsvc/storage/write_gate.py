"""WriteGate: one SQLite writer at a time inside the process, the others queued in order.

SQLite has one write lock per database. Writers of one process that find it taken sleep in
SQLite's busy handler and poll with growing sleeps (up to 100 ms between tries), so under a
few concurrent writers the wait of an unlucky one grows far beyond the time the writes take
(MLLP with 8 senders: p95 1.7 s for writes of about 30 ms). The gate hands the lock over first
come, first served, the moment the writer before lets go; the busy handler remains for writers
of other processes (the worker, a second gunicorn worker).

Re-entrant per thread (a write unit of work opened inside another one of the same thread waits
on SQLite, as before, not on the gate). PostgreSQL needs none: its row locks queue already.
"""
from __future__ import annotations

import threading
from collections import deque

from .errors import ConflictError


class WriteGate:
    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._waiters: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._depth = 0
        self.waits = 0           # how many acquisitions had to queue (tests, benchmarks)

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None:
                self._owner, self._depth = me, 1
                return
            ready = threading.Event()
            entry = (me, ready)
            self._waiters.append(entry)
            self.waits += 1
        if ready.wait(self.timeout):
            return               # handed over: _owner and _depth were set by release()
        with self._lock:
            if ready.is_set():   # handed over just as the wait ran out
                return
            self._waiters.remove(entry)
        raise ConflictError(f"The database was busy with other writes for {self.timeout:g} s")

    def release(self) -> None:
        with self._lock:
            if self._owner != threading.get_ident():
                raise RuntimeError("WriteGate released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            if self._waiters:
                owner, ready = self._waiters.popleft()
                self._owner, self._depth = owner, 1
                ready.set()
            else:
                self._owner = None

    def __enter__(self) -> "WriteGate":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
