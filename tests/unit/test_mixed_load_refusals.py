"""bench/mixed_load.py's check of 429s "within the rate" (issue 16 follow-up): the standard
class run counted 6,787 such refusals of clients the limiter held at exactly their rate."""
from __future__ import annotations

from bench.mixed_load import refusals_within_rate


def spinning(seconds: float, rate: float, burst: int) -> list:
    """A closed-loop client answered in 10 ms: its burst at once, then one admitted request
    every 1/rate seconds (what the bucket refills) and 429s in between."""
    log, t, admitted = [], 0.0, 0
    while t < seconds:
        if admitted < burst + rate * t:
            log.append((t, t + 0.01, 200))
            admitted += 1
        else:
            log.append((t, t + 0.01, 429))
        t += 0.01
    return log


def test_a_client_held_at_its_rate_is_not_refused_within_it():
    log = spinning(90, 10.0, 60)
    assert sum(1 for x in log if x[2] == 429) > 5000
    assert refusals_within_rate(log, 0.0, 10.0, 60.0, 28) == 0


def test_a_refusal_with_a_full_bucket_counts():
    log = [(0.0, 0.01, 200), (5.0, 5.01, 429), (30.0, 30.01, 200)]   # refused, full: wrongly
    for i in range(60):                       # the burst spent at once ...
        log.append((31.0 + i * 0.001, 31.0 + i * 0.001 + 0.0005, 200))
    log.append((31.1, 31.11, 429))            # ... then refused: rightly
    log.append((40.0, 40.01, 429))            # 9 s later 90 tokens back: wrongly
    assert refusals_within_rate(log, 0.0, 10.0, 60.0, 28) == 2
