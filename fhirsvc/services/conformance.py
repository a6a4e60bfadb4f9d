"""The conformance catch-up: profiles and search parameters stored through the API reach every
worker process before it validates or searches.

Any worker may store a StructureDefinition, ValueSet, CodeSystem or SearchParameter; each
worker remembers the newest `lastUpdated` of those types it has applied and, before work that
depends on them, asks the database (one indexed query) whether there is anything newer. So the
app stays stateless: no message between workers, no restart.
"""
from __future__ import annotations

import logging
import threading

from ..outcomes import Issue, error

CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem",
                               "SearchParameter"})

log = logging.getLogger(__name__)


def _base_url(url) -> str | None:
    return url.split("|", 1)[0] if isinstance(url, str) and url else None


class ConformanceSync:
    def __init__(self, db, definitions, search_registry):
        self.db = db
        self.definitions = definitions
        self.search_registry = search_registry
        self._mark = -1
        self._lock = threading.Lock()
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

    def __call__(self, uow=None) -> int:
        """Apply what was stored since the last call (by any process); returns how many."""
        if uow is None:
            with self.db.unit_of_work() as own:
                return self(own)
        if uow.resources.latest_change(CONFORMANCE_TYPES) == self._mark:
            return 0
        with self._lock:
            # read again under the lock: another thread may have applied it meanwhile
            mark = uow.resources.latest_change(CONFORMANCE_TYPES)
            if mark == self._mark:
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
        return applied
