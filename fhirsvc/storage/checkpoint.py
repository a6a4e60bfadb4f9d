"""SQLite WAL checkpoints off the writers' path.

In WAL mode SQLite copies the log back into the database file (a checkpoint) when a commit
finds the log over `wal_autocheckpoint` pages (1,000 by default): that commit does the copy
and two fsyncs itself, while it still holds the write gate, so every writer queued behind it
waits too. Measured under the MLLP benchmark: about one commit in 100 took 14-20 ms instead of
0.1 ms (4 ms of CPU), and the 8 messages in flight each waited for it (bench/RESULTS.md, "MLLP
tail").

Here a thread of the process runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own
after every `every` commits (or `idle` seconds after the first of fewer): PASSIVE takes no lock that
writers or readers wait for, so commits go on meanwhile, and the GIL is released while SQLite
copies and syncs. Writers keep SQLite's own in-line checkpoint as a backstop at a higher mark
(`backstop` pages), reached only if this thread falls behind or a process runs without one
(the log then grows no further than before). Durability is unchanged: a commit is as durable
as before (synchronous=NORMAL: the log is synced at checkpoints), and a process that dies
leaves the log for the next checkpoint or the next open to apply.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref

from sqlalchemy import event

log = logging.getLogger("fhirsvc.storage")


class WalCheckpointer:
    def __init__(self, engine, path: str, every: int = 32, idle: float = 1.0,
                 backstop: int = 10_000):
        self.path = os.path.abspath(path)
        self.every = every
        self.idle = idle
        self.backstop = backstop
        self.checkpoints = 0          # checkpoints run (tests, benchmarks)
        self.last: tuple | None = None   # (busy, log frames, frames checkpointed) of the last
        self._commits = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        event.listen(engine, "connect", self._on_connect)
        # A fork waits for a checkpoint in flight: SQLite's own mutexes, taken by this
        # thread at the moment of the fork, would stay taken in the child and its first
        # statement would hang. The thread does not exist in the child, and its lock or event
        # may have been taken at the fork: the child starts afresh (gunicorn workers).
        self._running = threading.Lock()
        ref = weakref.ref(self)
        os.register_at_fork(
            before=lambda: (c := ref()) is not None and c._running.acquire(),
            after_in_parent=lambda: (c := ref()) is not None and c._running.release(),
            after_in_child=lambda: (c := ref()) is not None and c._forked())

    def _forked(self) -> None:
        self._running = threading.Lock()
        self._lock, self._wake = threading.Lock(), threading.Event()
        self._thread, self._stop = None, False

    def _on_connect(self, dbapi_conn, _record) -> None:
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={int(self.backstop)}")

    def committed(self) -> None:
        """A write transaction of this process committed (called by UnitOfWork.commit)."""
        self._commits += 1   # a lost increment under a race only delays one checkpoint
        if self._thread is None:
            self._start()
        if self._commits >= self.every:
            self._wake.set()
        elif self._commits == 1:
            self._wake.set()   # the thread then waits `idle` for more before it checkpoints

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._pid, self._stop = os.getpid(), False
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._running:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                                   check_same_thread=False)
        try:
            while not self._stop:
                self._wake.wait()             # nothing committed: sleep until something is
                self._wake.clear()
                if self._stop:
                    break
                if self._commits < self.every:
                    # a few commits: more may follow; checkpoint when `every` are in, or
                    # `idle` seconds after the first of them
                    self._wake.wait(self.idle)
                    self._wake.clear()
                    if self._stop:
                        break
                if self._commits == 0:
                    continue
                self._commits = 0
                self.checkpoint(conn)
        finally:
            with self._running:
                conn.close()

    def checkpoint(self, conn=None) -> tuple | None:
        own = conn is None
        conn = conn or sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            with self._running:
                row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:   # locked by a schema change, a file gone: next time
            log.debug("WAL checkpoint skipped: %s", exc)
            return None
        finally:
            if own:
                conn.close()
        self.checkpoints += 1
        self.last = tuple(row)
        return self.last

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running)."""
        self._stop = True
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            thread.join(10)
