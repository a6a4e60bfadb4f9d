"""Worker processes of the MLLP listener (`FHIRSVC_MLLP_PROCESSES`, `mllp --processes N`).

Conversion, validation and index extraction are pure Python and hold the interpreter lock, so
one process stores messages on one core however many threads it runs. With N > 1 the listener
keeps the connections, the framing and the sender policy, and hands each admitted message (its
bytes and the RequestContext it is processed under) to the first free worker process: its own
runtime, built once from the same configuration, stores it and hands back the ACK bytes. The
listener writes that ACK on the connection the message came on, in order, as before.

On SQLite the workers' writes queue at the write gate's lock file (storage/write_gate.py); on
PostgreSQL at its row locks. A worker that dies is replaced: its message is answered AR (send
it again; nothing it had not committed is stored) and the pool is started anew.
"""
from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

log = logging.getLogger("fhirsvc.mllp")

_runtime = None        # the worker process's runtime (set by _start)
_ready = None          # a barrier: every worker has started (set by _start)


def _start(config, barrier) -> None:
    global _runtime, _ready
    from .bootstrap import build
    from .mllp import settle
    _runtime = build(config)
    _ready = barrier
    settle()


def _started() -> int:
    """Run once on each worker at start-up: returns when all of them are ready."""
    import os
    _ready.wait(300)
    return os.getpid()


def _store(ctx, payload: bytes) -> bytes:
    return _runtime.services.hl7v2.process(ctx, payload).ack.encode("utf-8")


class WorkerPool:
    def __init__(self, config, processes: int):
        self.config = config
        self.processes = processes
        self.pids: list[int] = []
        self._lock = threading.Lock()
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        # spawn, not fork: the listener holds threads, an event loop and database connections
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(self.processes)
        pool = ProcessPoolExecutor(self.processes, mp_context=ctx, initializer=_start,
                                   initargs=(self.config, barrier))
        # one start-up task per worker, each waiting for all: every process has its runtime
        # before the first message (a worker still loading would take one late)
        self.pids = [f.result() for f in [pool.submit(_started)
                                          for _ in range(self.processes)]]
        return pool

    def store(self, ctx, payload: bytes) -> bytes:
        pool = self._pool
        try:
            return pool.submit(_store, ctx, payload).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:   # the first to see it starts the pool anew
                    log.error("an MLLP worker process died; starting the workers again")
                    pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = self._new()
            raise

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
