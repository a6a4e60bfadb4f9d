"""gc_warmup: the survivors of the first full collections after start-up are frozen, later
ones are not (the collector walks only what was made since)."""
from __future__ import annotations

import gc

import pytest

from fhirsvc import gc_warmup


@pytest.fixture(autouse=True)
def _restore():
    yield
    gc_warmup.freeze_after_full_collections(0)
    gc.unfreeze()


class Cached:   # stands for long-lived state built by the first messages (in a cycle)
    def __init__(self):
        self.me = self


def test_survivors_of_the_first_full_collections_are_frozen():
    gc.collect()
    gc_warmup.freeze_after_full_collections(2)
    first = [Cached() for _ in range(5000)]
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= before + 5000
    assert gc_warmup.pending() == 1
    gc.collect(1)                       # a younger generation's collection does not count
    assert gc_warmup.pending() == 1
    gc.collect()
    assert gc_warmup.pending() == 0
    assert gc_warmup._after not in gc.callbacks
    later = [Cached() for _ in range(5000)]
    before = gc.get_freeze_count()
    gc.collect()                        # past the warm-up: nothing more is frozen
    assert gc.get_freeze_count() < before + 5000
    assert len(first) == len(later) == 5000


def test_frozen_objects_are_still_freed_by_reference_counting():
    import weakref
    gc_warmup.freeze_after_full_collections(1)
    obj = type("Plain", (), {})()
    ref = weakref.ref(obj)
    gc.collect()
    del obj
    assert ref() is None


def test_the_listener_settles_then_freezes_the_warm_up():
    from fhirsvc.mllp import settle
    settle()
    assert gc_warmup.pending() == 3
