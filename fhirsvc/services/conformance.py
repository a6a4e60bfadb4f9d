"""The conformance catch-up: profiles and search parameters stored through the API reach every
worker process before it validates or searches.

Any worker may store a StructureDefinition, ValueSet, CodeSystem or SearchParameter; each
worker remembers the newest `lastUpdated` of those types it has applied and, before work that
depends on them, asks the database (one indexed query) whether there is anything newer. So the
app stays stateless: no message between workers, no restart.

That query used to run before every search and write (11-12% of the database's busy time under
the mixed load, and a transaction of its own before each write), though conformance resources
change rarely. It now runs only when something could have changed (`ChangeSignal`):
- this server's own writes: the pipeline calls `noticed` after committing a conformance
  resource, which bumps a counter in memory shared by every gunicorn worker of the server
  (mapped before the fork), so the next request of ANY worker of this server checks. The bump
  happens after the commit and before the answer, so a request sent after the answer sees it;
- other servers and processes (another app node, `fhirsvc load`, a job worker): at most
  `interval` seconds (FHIRSVC_CONFORMANCE_CHECK_INTERVAL, default 1) after the last check the
  database is asked again. That is the stated bound: a conformance resource stored through
  another machine applies here within `interval` seconds; 0 asks before every request, as
  before.
- `force=True` (the reindex job, tools) always asks.
"""
from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
import time

from ..outcomes import Issue, error

CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem",
                               "SearchParameter"})

log = logging.getLogger(__name__)


def _base_url(url) -> str | None:
    return url.split("|", 1)[0] if isinstance(url, str) and url else None


class ChangeSignal:
    """A counter in anonymous shared memory: written by one process, read by its forks.

    Made before gunicorn forks its workers (the app is built in the master), so every worker
    maps the same page. A write stores (pid, a per-process sequence number): values never
    repeat, so a reader only ever compares for inequality and no cross-process lock is needed
    (a torn read can only look different, which costs one extra check)."""

    _FORMAT = "<Q"

    def __init__(self):
        self._map = mmap.mmap(-1, mmap.PAGESIZE)   # MAP_SHARED | MAP_ANONYMOUS
        self._seq = 0
        self._lock = threading.Lock()

    def value(self) -> int:
        return struct.unpack_from(self._FORMAT, self._map, 0)[0]

    def bump(self) -> None:
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            struct.pack_into(self._FORMAT, self._map, 0,
                             ((os.getpid() & 0xFFFFFFFF) << 32) | self._seq)


# one signal per database in this process (and its forks): two apps on one database in one
# process (tests standing for two workers) see each other's writes at once, as forks do
_SIGNALS: dict[str, ChangeSignal] = {}
_SIGNALS_LOCK = threading.Lock()


def signal_for(key: str) -> ChangeSignal:
    with _SIGNALS_LOCK:
        if key not in _SIGNALS:
            _SIGNALS[key] = ChangeSignal()
        return _SIGNALS[key]


class ConformanceSync:
    def __init__(self, db, definitions, search_registry, interval: float = 1.0,
                 clock=time.monotonic):
        self.db = db
        self.definitions = definitions
        self.search_registry = search_registry
        self._mark = -1
        self._lock = threading.Lock()
        self.interval = interval           # seconds between looks for other servers' writes
        self._clock = clock
        self._signal = signal_for(str(getattr(db, "url", id(db))))
        self._seen: int | None = None      # the signal's value at the last look
        self._looked = float("-inf")       # when the database was last asked
        self.checks = 0                    # database looks (tests, benchmarks)
        # Canonical URLs of what was loaded at start (R4 core and the guide): immutable. A
        # stored resource reusing one would change validation or search for every client
        # ("conformance poisoning"), so such writes are refused and such stored resources
        # (written before this check) are never applied.
        state = definitions.state
        self.protected = frozenset(
            u for index in (state.sds, state.cs, state.valuesets, state.vs_expansions,
                            dict.fromkeys(search_registry.urls()))
            for u in map(_base_url, index) if u)

    def check_write(self, resource: dict) -> list[Issue]:
        """The issues of a write that reuses a protected canonical URL (422 in the pipeline)."""
        rtype = resource.get("resourceType")
        if rtype not in CONFORMANCE_TYPES:
            return []
        url = resource.get("url")
        if _base_url(url) in self.protected:
            return [error("business-rule", f"{url} is the canonical URL of a definition built "
                          f"into this server (R4 core or the guide); it cannot be replaced. "
                          f"Give your {rtype} a URL of your own", f"{rtype}.url")]
        return []

    def noticed(self, resource_types) -> None:
        """After a commit that wrote resources of these types: if any is a conformance type,
        every worker of this server looks at the database before its next request."""
        if not CONFORMANCE_TYPES.isdisjoint(resource_types):
            self._signal.bump()

    def due(self) -> bool:
        """Whether something could have changed since the last look (module docstring)."""
        return (self._signal.value() != self._seen
                or self._clock() - self._looked >= self.interval)

    def __call__(self, uow=None, force: bool = False) -> int:
        """Apply what was stored since the last call (by any process); returns how many.
        Without `force`, the database is asked only when `due()`."""
        if not force and not self.due():
            return 0
        if uow is None:
            with self.db.unit_of_work(read_only=True) as own:
                return self(own, force=True)
        # taken before asking: a bump while we ask makes the next call ask again
        seen, looked = self._signal.value(), self._clock()
        self.checks += 1
        applied_mark = self._mark
        mark = uow.resources.latest_change(CONFORMANCE_TYPES)
        if mark == applied_mark:
            self._seen, self._looked = seen, looked
            return 0
        with self._lock:
            if self._mark != applied_mark:
                # another thread applied something meanwhile: read again under the lock
                mark = uow.resources.latest_change(CONFORMANCE_TYPES)
            if mark == self._mark:
                self._seen, self._looked = seen, looked
                return 0
            changed = uow.resources.changed_since(CONFORMANCE_TYPES, self._mark)
            applied = 0
            definitions = []
            removed = []
            for stored in changed:
                if stored.deleted:
                    # unload it: the last version before the delete says what it was
                    before = uow.resources.vread(stored.resource_type, stored.resource_id,
                                                 stored.version - 1)
                    if before is not None and not before.deleted:
                        removed.append(before.resource())
                    continue
                resource = stored.resource()
                if _base_url(resource.get("url")) in self.protected:
                    log.warning("Not applying stored %s/%s: it reuses the built-in canonical "
                                "URL %s", stored.resource_type, stored.resource_id,
                                resource.get("url"))
                    continue
                if stored.resource_type == "SearchParameter":
                    self.search_registry.add(resource)
                    applied += 1
                    continue
                if stored.resource_type == "ValueSet":
                    self.search_registry.add_valueset(resource)  # range expansion order
                definitions.append(resource)
            # one new generation of the definitions for the whole catch-up (validations in
            # other threads keep the generation they started with)
            applied += self.definitions.add_all(definitions) if definitions else 0
            for resource in removed:
                if _base_url(resource.get("url")) in self.protected:
                    continue
                if resource.get("resourceType") == "SearchParameter":
                    self.search_registry.remove(resource.get("url"))
                else:
                    if resource.get("resourceType") == "ValueSet":
                        self.search_registry.remove_valueset(resource.get("url"))
                    self.definitions.remove(resource)
                applied += 1
            self._mark = max([mark] + [s.last_updated for s in changed])
            self._seen, self._looked = seen, looked
        return applied
