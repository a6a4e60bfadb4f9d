"""The SQL of shared rate limits (fhirsvc/security/limits.py): one token bucket per client in
`rate_buckets`, taken from with ONE statement (an upsert that refills by the time passed,
takes up to `want` whole tokens when there are any and returns how many and what is left), so
every server process and machine counts against the same bucket. `back`: tokens of an expired
lease that were never spent, returned in the same statement (never above the burst).

The clock is the database's (`now` None, the default): every app machine refills one bucket by
one clock, so machines with skewed clocks cannot disagree (one far behind would refill
nothing, one far ahead a whole burst). PostgreSQL: the statement's start
(`statement_timestamp()`); SQLite: its `'now'` (the one machine's clock, millisecond
resolution). `at` never moves back: a take that started earlier but got the row later (it
waited for the lock) refills nothing and leaves the later time, so no interval is counted twice.
A `now` given (microseconds) replaces the database's clock: tests with a fake clock.

    granted, tokens = uow.rate_limits.take("client", burst=60.0, per_micro=1e-5, now=now_us,
                                           want=8)
"""
from __future__ import annotations

from sqlalchemy import text

_SQL = {}


def _statement(dialect: str):
    if dialect not in _SQL:
        lo, hi = ("min", "max") if dialect == "sqlite" else ("LEAST", "GREATEST")
        clock = ("CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
                 if dialect == "sqlite" else
                 "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT)")
        now = f"COALESCE(CAST(:now AS BIGINT), {clock})"
        # SET expressions all see the row as it was: the refill is computed once per column
        refill = (f"{lo}(CAST(:burst AS DOUBLE PRECISION), rate_buckets.tokens + "
                  f"CAST(:back AS INTEGER) + "
                  f"{hi}(0, {now} - rate_buckets.at) * "
                  f"CAST(:per_micro AS DOUBLE PRECISION))")
        # whole tokens available (refill >= 0): PostgreSQL's CAST to integer rounds, SQLite's
        # truncates
        whole = (f"CAST(FLOOR({refill}) AS INTEGER)" if dialect != "sqlite"
                 else f"CAST({refill} AS INTEGER)")
        if dialect == "sqlite":
            refill = refill.replace("DOUBLE PRECISION", "REAL").replace("BIGINT", "INTEGER")
            whole = whole.replace("DOUBLE PRECISION", "REAL").replace("BIGINT", "INTEGER")
        # up to :want tokens at once (a lease, security/limits.py); `granted` is how many
        taken = f"{lo}(CAST(:want AS INTEGER), {whole})"
        _SQL[dialect] = text(
            "INSERT INTO rate_buckets (bucket, tokens, at, granted) "
            f"VALUES (:bucket, :burst - :want, {now}, :want) "
            "ON CONFLICT (bucket) DO UPDATE SET "
            f"granted = CASE WHEN {refill} >= 1 THEN {taken} ELSE 0 END, "
            f"tokens = CASE WHEN {refill} >= 1 THEN {refill} - {taken} ELSE {refill} END, "
            f"at = {hi}(rate_buckets.at, {now}) "
            "RETURNING granted, tokens")
    return _SQL[dialect]


class RateLimits:
    def __init__(self, conn):
        self.conn = conn

    def take(self, bucket: str, burst: float, per_micro: float, now: int | None = None,
             want: int = 1, back: int = 0) -> tuple[int, float]:
        """(tokens granted: 0 .. `want`, tokens left) for `want` requests of `bucket`, after
        `back` unspent tokens are returned; `want` is at most `burst`. Granted is 0 only when
        not one whole token is left. `now` None: the database's clock."""
        want = max(1, min(int(want), int(burst)))
        row = self.conn.execute(_statement(self.conn.dialect.name), {
            "bucket": bucket, "burst": float(burst), "per_micro": float(per_micro),
            "now": None if now is None else int(now), "want": want,
            "back": max(0, int(back))}).one()
        return int(row[0]), float(row[1])


def take_now(db, bucket: str, burst: float, per_micro: float, now: int | None,
             want: int = 1, back: int = 0) -> tuple[int, float]:
    """`RateLimits.take` in a transaction of its own. PostgreSQL: one autocommitted statement
    (one round trip, no BEGIN / COMMIT around it; the upsert is atomic by itself). SQLite: a
    write unit of work (its driver's autocommit does not keep an upsert read with RETURNING
    before the cursor is done)."""
    if db.engine.dialect.name == "sqlite":
        with db.unit_of_work(write=True) as uow:
            out = uow.rate_limits.take(bucket, burst, per_micro, now, want, back)
            uow.commit()
        return out
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return RateLimits(conn).take(bucket, burst, per_micro, now, want, back)
