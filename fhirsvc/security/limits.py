"""Per-client limits: a request rate (token bucket: `rate` per minute, bursts of `burst`), the
largest request body and the most Bundle entries, by client class.

`SharedRateLimiter` (the default, FHIRSVC_RATE_LIMIT_STORE=database) keeps the buckets in the
database (`rate_buckets`, one upsert per check), so N gunicorn workers or app machines allow a
client its rate once, not N times. `RateLimiter` (FHIRSVC_RATE_LIMIT_STORE=process) keeps them
in each process.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from ..outcomes import OperationOutcomeError, error


@dataclass(frozen=True)
class ClientClass:
    name: str
    rate: float              # requests per minute
    burst: int               # requests allowed at once
    max_bytes: int           # request body size
    max_entries: int         # entries of a transaction / batch Bundle


DEFAULT_CLASSES = {
    "standard": {"rate": 600, "burst": 60, "max_bytes": 10 * 1024 * 1024, "max_entries": 1000},
    "bulk": {"rate": 6000, "burst": 600, "max_bytes": 50 * 1024 * 1024, "max_entries": 10000},
}


def client_classes(text: str | None) -> dict[str, ClientClass]:
    merged = {k: dict(v) for k, v in DEFAULT_CLASSES.items()}
    for name, values in (json.loads(text) if text else {}).items():
        merged.setdefault(name, dict(DEFAULT_CLASSES["standard"])).update(values)
    return {n: ClientClass(n, float(v["rate"]), int(v["burst"]), int(v["max_bytes"]),
                           int(v["max_entries"])) for n, v in merged.items()}


class RateLimiter:
    def __init__(self, classes: dict[str, ClientClass], clock=time.monotonic):
        self.classes = classes
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}   # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str, klass: ClientClass) -> float:
        """0 when the request may go; else the seconds until it may (Retry-After)."""
        per_second = klass.rate / 60.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (float(klass.burst), now))
            tokens = min(float(klass.burst), tokens + (now - at) * per_second)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / per_second if per_second > 0 else 60.0


class SharedRateLimiter:
    """The same token bucket, in the database: every process takes from one row per client.
    The clock is the wall clock in microseconds (monotonic clocks are per machine); a clock
    stepping back refills nothing. A database failure lets the request through (logged): the
    limit protects the service, it does not authorise."""

    def __init__(self, db, classes: dict[str, ClientClass], clock=time.time):
        self.db = db
        self.classes = classes
        self.clock = clock

    def take(self, client: str, klass: ClientClass) -> float:
        per_second = klass.rate / 60.0
        try:
            from ..storage.rate_limits import take_now
            granted, tokens = take_now(self.db, client, float(klass.burst), per_second / 1e6,
                                       int(self.clock() * 1e6))
        except Exception:  # noqa: BLE001 - never fail a request because the counter did
            logging.getLogger("fhirsvc.security").exception("rate limit check failed")
            return 0.0
        if granted:
            return 0.0
        return (1.0 - tokens) / per_second if per_second > 0 else 60.0


def limiter(config, db, classes: dict[str, ClientClass]):
    """The rate limiter FHIRSVC_RATE_LIMIT_STORE asks for (database | process)."""
    store = getattr(config, "rate_limit_store", "database") or "database"
    if store == "process":
        return RateLimiter(classes)
    if store != "database":
        raise ValueError(f"FHIRSVC_RATE_LIMIT_STORE is database or process, not {store!r}")
    return SharedRateLimiter(db, classes)


def check_entries(ctx, classes: dict[str, ClientClass], bundle) -> None:
    """413 when a Bundle has more entries than the caller's class allows."""
    if not ctx.enforce or not isinstance(bundle, dict):
        return
    klass = classes.get(ctx.client_class or "standard") or classes["standard"]
    n = len(bundle.get("entry") or [])
    if n > klass.max_entries:
        raise OperationOutcomeError(error(
            "too-costly", f"This Bundle has {n} entries; clients of class {klass.name} may send "
            f"at most {klass.max_entries} at once: split it", "Bundle.entry"), 413)
