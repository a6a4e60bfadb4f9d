"""WriteGate: one SQLite writer at a time inside the process, the others queued in order.

SQLite has one write lock per database. Writers of one process that find it taken sleep in
SQLite's busy handler and poll with growing sleeps (up to 100 ms between tries), so under a
few concurrent writers the wait of an unlucky one grows far beyond the time the writes take
(MLLP with 8 senders: p95 1.7 s for writes of about 30 ms). The gate hands the lock over first
come, first served, the moment the writer before lets go; the busy handler remains for writers
of other processes (the worker, a second gunicorn worker).

Re-entrant per thread (a write unit of work opened inside another one of the same thread waits
on SQLite, as before, not on the gate). PostgreSQL needs none: its row locks queue already.

Between processes (the MLLP listener's worker processes, gunicorn workers, the job worker) the
holder of the gate also holds an exclusive `flock` on a file beside the database
(`<database>-writegate`), taken by polling every 0.1-0.5 ms instead of SQLite's busy handler's
1-100 ms sleeps (polls capped at 2 ms left the file idle a third of the time between two
processes handing it back and forth; at 0.5 ms a fifth, each poll a syscall of microseconds).
It only orders writers: SQLite's own lock (BEGIN IMMEDIATE, busy timeout) stays what keeps
them apart, so a writer that does not know the file (another program) is
still safe, and a process that dies lets go of the file with its descriptors.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque

from .errors import ConflictError


class FileLock:
    """An exclusive flock on `path`, opened once per process (a descriptor inherited through
    fork shares its lock with the parent, so a forked child opens its own)."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        fd = self._descriptor()
        deadline = time.monotonic() + timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.0005)

    def release(self) -> None:
        fcntl.flock(self._descriptor(), fcntl.LOCK_UN)


class WriteGate:
    def __init__(self, timeout: float = 60.0, lock_path: str | None = None):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._waiters: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._depth = 0
        self.waits = 0           # how many acquisitions had to queue (tests, benchmarks)
        # other processes' writers of the same database (None: an in-memory database)
        self._file = FileLock(lock_path) if lock_path else None

    def acquire(self) -> None:
        started = time.monotonic()
        if not self._acquire_here():
            return               # re-entered: the file lock is held already
        if self._file is None:
            return
        left = max(0.0, self.timeout - (time.monotonic() - started))
        if self._file.acquire(left):
            return
        self._release_here(release_file=False)
        raise ConflictError(f"The database was busy with other processes' writes for "
                            f"{self.timeout:g} s")

    def _acquire_here(self) -> bool:
        """This process's turn; True when newly taken (False: re-entered by its owner)."""
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return False
            if self._owner is None:
                self._owner, self._depth = me, 1
                return True
            ready = threading.Event()
            entry = (me, ready)
            self._waiters.append(entry)
            self.waits += 1
        if ready.wait(self.timeout):
            return True          # handed over: _owner and _depth were set by release()
        with self._lock:
            if ready.is_set():   # handed over just as the wait ran out
                return True
            self._waiters.remove(entry)
        raise ConflictError(f"The database was busy with other writes for {self.timeout:g} s")

    def release(self) -> None:
        self._release_here(release_file=True)

    def _release_here(self, release_file: bool) -> None:
        with self._lock:
            if self._owner != threading.get_ident():
                raise RuntimeError("WriteGate released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            if release_file and self._file is not None:
                self._file.release()   # before the next writer of this process takes it
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
