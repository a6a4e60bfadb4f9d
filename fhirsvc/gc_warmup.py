"""Freeze what the first messages build, so full collections stop walking it.

`gc.freeze()` at start-up moves the loaded definitions out of the collector's generations, but
much long-lived state is built lazily by the first requests: the validator's FHIRPath parsers
per profile, SQLAlchemy's compiled statements, the converter's caches. Left in the oldest
generation, that state (about 40,000 objects after a few ORU) is walked by every full
collection: 80-130 ms each on the 2-core machine, about one per 120 stored ORU, with every
sender waiting behind it. After each of the first `times` full collections this freezes what
survived it (by then it is long-lived); later full collections walk only what was made since
(0.5-11 ms measured, bench/RESULTS.md "MLLP tail").

The cost is bounded: objects frozen are still freed by reference counting; only a reference
cycle that was alive at one of those `times` moments and dies later is never collected (the
few messages in flight then), so `times` stays small.
"""
from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_left = 0


def _after(phase: str, info: dict) -> None:
    global _left
    if phase != "stop" or info.get("generation") != 2:
        return
    with _lock:
        if _left <= 0:
            return
        _left -= 1
        gc.freeze()   # everything that survived this full collection
        if _left == 0 and _after in gc.callbacks:
            gc.callbacks.remove(_after)


def freeze_after_full_collections(times: int = 3) -> None:
    """Freeze the survivors of each of the next `times` full collections (once per process:
    calling it again resets the count)."""
    global _left
    with _lock:
        _left = max(0, int(times))
        if _left and _after not in gc.callbacks:
            gc.callbacks.append(_after)
        elif not _left and _after in gc.callbacks:
            gc.callbacks.remove(_after)


def pending() -> int:
    """How many full collections are still to be frozen after (tests)."""
    return _left
