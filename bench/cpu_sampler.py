"""A CPU sampler for one thread: every `interval` seconds, the thread's CPU time used since the
last sample (its own CPU clock) goes to the stack it is in. Unlike cProfile's counts it is not
inflated by many small calls, and unlike wall-clock sampling it leaves database waits out.
Run with a short `sys.setswitchinterval` so the samples do not bunch at I/O points."""
from __future__ import annotations

import collections
import sys
import threading
import time


class Sampler:
    def __init__(self, ident: int | None = None, interval: float = 0.0005):
        self.ident = ident or threading.get_ident()
        self.clock = time.pthread_getcpuclockid(self.ident)
        self.interval = interval
        self.stacks: collections.Counter = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = time.clock_gettime(self.clock)
        while not self._stop.is_set():
            time.sleep(self.interval)
            now = time.clock_gettime(self.clock)
            used, last = now - last, now
            frame = sys._current_frames().get(self.ident)
            if used <= 0 or frame is None:
                continue
            stack = []
            while frame is not None:
                stack.append((frame.f_code.co_filename, frame.f_code.co_name))
                frame = frame.f_back
            self.stacks[tuple(stack)] += used

    def total(self) -> float:
        return sum(self.stacks.values())

    def share(self, pred, unless=None) -> float:
        """Fraction of the sampled CPU spent inside a frame matching pred(filename, name)
        (and inside none matching `unless`)."""
        total = self.total() or 1.0
        return sum(v for s, v in self.stacks.items() if any(pred(f, n) for f, n in s)
                   and not (unless and any(unless(f, n) for f, n in s))) / total


# where the CPU of a request goes, by what it was inside of (shares overlap: nested)
CATEGORIES = [
    ("token verify", lambda f, n: f.endswith("security/tokens.py") and n == "verify"),
    ("rate limit", lambda f, n: f.endswith("security/limits.py") and n == "take"),
    ("pool checkout (ping)", lambda f, n: f.endswith("pool/base.py") and n == "_checkout"),
    ("audit (after)", lambda f, n: f.endswith("api/security.py") and n == "after"),
    ("search engine", lambda f, n: "fhirsvc/search/" in f or "storage/search_" in f),
    ("ingest pipeline", lambda f, n: "fhirsvc/ingest/" in f),
    ("  validation", lambda f, n: "fhirsvc/validation/" in f),
    ("  index extraction", lambda f, n: "fhirsvc/search/extract" in f),
    ("  Provenance", lambda f, n: "provenance" in n.lower()),
    # building and compiling-cache look-ups, not the execution under them
    ("SQLAlchemy statement building", lambda f, n: "sqlalchemy/sql/" in f,
     lambda f, n: "sqlalchemy/engine/" in f),
    ("psycopg (round trips)", lambda f, n: "/psycopg/" in f),
    ("JSON (orjson / json)", lambda f, n: "json" in f.rsplit("/", 1)[-1] or "json" in n),
]
