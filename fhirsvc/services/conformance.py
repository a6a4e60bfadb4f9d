"""The conformance catch-up: profiles and search parameters stored through the API reach every
worker process before it validates or searches.

Any worker may store a StructureDefinition, ValueSet, CodeSystem or SearchParameter; each
worker remembers the newest `lastUpdated` of those types it has applied and, before work that
depends on them, asks the database (one indexed query) whether there is anything newer. So the
app stays stateless: no message between workers, no restart.
"""
from __future__ import annotations

import threading

CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem",
                               "SearchParameter"})


class ConformanceSync:
    def __init__(self, db, definitions, search_registry):
        self.db = db
        self.definitions = definitions
        self.search_registry = search_registry
        self._mark = -1
        self._lock = threading.Lock()

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
            for stored in changed:
                if stored.deleted:
                    continue  # registries keep what they learnt; documented limitation
                resource = stored.resource()
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
            self._mark = max([mark] + [s.last_updated for s in changed])
        return applied
