"""Per-client limits: a request rate (token bucket: `rate` per minute, bursts of `burst`), the
largest request body and the most Bundle entries, by client class.

`SharedRateLimiter` (the default, FHIRSVC_RATE_LIMIT_STORE=database) keeps the buckets in the
database (`rate_buckets`), so N gunicorn workers or app machines allow a client its rate once,
not N times. It takes tokens in leases: one upsert takes up to `lease` tokens from the shared
bucket and the process spends them locally, so a busy client costs one database write per
`lease` requests instead of one per request (FHIRSVC_RATE_LIMIT_LEASE, 1 = a write per request).
`RateLimiter` (FHIRSVC_RATE_LIMIT_STORE=process) keeps the buckets in each process.

The bound, with P processes, leases of at most N tokens that are spent within T seconds
(`lease_seconds`) or dropped:
- never more than the bucket: every token let through was taken from the shared bucket, at
  most T seconds earlier, so in any w seconds a client gets at most burst + rate x (w + T)
  requests (T = 1 s: one extra second of its rate);
- at most P x (N - 1) of its tokens sit unspent in other processes' leases (P counting each
  thread that leases at the same moment as another of its process), so a client near its
  limit may be refused (429) that many requests early, for at most T seconds. Leases grow
  with demand (1, 2, 4 ... N: doubled each time one is granted in full, halved when one
  expires unspent), so a client sending a request now and then leases one token at a time.
  The unspent tokens of an expired lease go back to the bucket with the process's next take
  (a client that stops sending leaves at most N per process there until the bucket refills).
"""
from __future__ import annotations

import json
import logging
import math
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
    The bucket's clock is the database's (storage/rate_limits.py), so app machines whose clocks
    disagree still refill it by one; `clock` (seconds, wall clock) replaces it in tests. The
    local clock only times leases and remembered refusals within this process. A database
    failure lets the request through (logged): the limit protects the service, it does not
    authorise. Tokens are leased (module docstring): `lease` at most per database write, spent
    within `lease_seconds`."""

    def __init__(self, db, classes: dict[str, ClientClass], clock=None, lease: int = 1,
                 lease_seconds: float = 1.0, local_clock=time.monotonic):
        self.db = db
        self.classes = classes
        self.clock = clock
        self.lease = max(1, int(lease))
        self.lease_seconds = lease_seconds
        self.local_clock = local_clock
        # client -> [tokens left in the lease, when it expires, size of the next lease,
        #            refused until (local clock)]
        self._leases: dict[str, list] = {}
        self._lock = threading.Lock()
        self.writes = 0       # database takes (tests, benchmarks)

    def take(self, client: str, klass: ClientClass) -> float:
        per_second = klass.rate / 60.0
        now = self.local_clock()
        back, shrunk = 0, False
        with self._lock:
            held = self._leases.get(client)
            if held is not None:
                # a lease first: another thread may have leased tokens after this one was
                # refused, and they are the client's (refusing over them refused a client
                # within its burst)
                if held[0] >= 1 and now < held[1]:
                    held[0] -= 1
                    return 0.0
                if now < held[3]:
                    # refused a moment ago: the bucket refills by time only, so it cannot
                    # have a whole token before then (no write per refused request)
                    return held[3] - now
                if held[0] >= 1:     # expired unspent: demand is lower, lease less
                    held[2], shrunk = max(1, held[2] // 2), True
                # unspent tokens go back to the bucket with this take: dropping them drained
                # the bucket of a client well under its rate (2 processes x 10 a second)
                back, held[0] = int(held[0]), 0
            want = min(held[2] if held else 1, self.lease, max(1, klass.burst))
        try:
            from ..storage.rate_limits import take_now
            granted, tokens = take_now(self.db, client, float(klass.burst), per_second / 1e6,
                                       None if self.clock is None else int(self.clock() * 1e6),
                                       want, back)
            self.writes += 1
        except Exception:  # noqa: BLE001 - never fail a request because the counter did
            logging.getLogger("fhirsvc.security").exception("rate limit check failed")
            return 0.0
        if granted < 1:
            wait = (1.0 - tokens) / per_second if per_second > 0 else 60.0
            with self._lock:
                self._leases.setdefault(client, [0, 0.0, 1, 0.0])[3] = now + wait
            return wait
        with self._lock:
            held = self._leases.setdefault(client, [0, 0.0, 1, 0.0])
            held[3] = 0.0    # the bucket had tokens after all: a refusal remembered is stale
            expires = now + self.lease_seconds
            # tokens of an earlier lease still held keep their earlier expiry (the bound)
            held[1] = min(held[1], expires) if held[0] >= 1 else expires
            held[0] += granted - 1          # one of them is this request's
            if granted == want and not shrunk:   # all it asked for: ask for more next time
                held[2] = min(self.lease, want * 2)
            if len(self._leases) > 10_000:  # forget idle clients (bounded memory)
                for key in [k for k, v in self._leases.items() if v[1] < now][:5_000]:
                    del self._leases[key]
        return 0.0


def retry_after(wait: float) -> int:
    """Retry-After (whole seconds, at least 1) for a refusal whose bucket has a token again in
    `wait` seconds: rounded up, so a client waiting that long is not refused again."""
    return max(1, math.ceil(wait - 1e-9))


def limiter(config, db, classes: dict[str, ClientClass]):
    """The rate limiter FHIRSVC_RATE_LIMIT_STORE asks for (database | process)."""
    store = getattr(config, "rate_limit_store", "database") or "database"
    if store == "process":
        return RateLimiter(classes)
    if store != "database":
        raise ValueError(f"FHIRSVC_RATE_LIMIT_STORE is database or process, not {store!r}")
    return SharedRateLimiter(db, classes, lease=getattr(config, "rate_limit_lease", 1))


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
