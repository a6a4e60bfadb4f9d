"""Observation/$lastn: the most recent observations per patient and code (fhirsvc.search.lastn)."""
from __future__ import annotations

from ..search.lastn import lastn


class LastNService:
    def __init__(self, db, engine, sync, max_candidates: int = 10_000, guard=None):
        self.db = db
        self.engine = engine
        self._sync = sync
        self.max_candidates = max_candidates
        if guard is None:
            from ..security.guard import Guard
            guard = Guard(engine.registry, engine)
        self.guard = guard

    def lastn(self, ctx, params) -> dict:
        """A search of Observations underneath: the guard narrows it as it narrows a search
        (a patient/ scope to the patient's compartment, a query-constrained scope its
        parameters)."""
        params = [(k, v) for k, v in params]
        criteria, compartment = self.guard.search(
            ctx, "Observation", [(k, v) for k, v in params if k != "max"])
        criteria += [(k, v) for k, v in params if k == "max"]
        with self.db.unit_of_work() as uow:
            self._sync(uow)
            return lastn(self.engine, uow, criteria, ctx.base_url, self.max_candidates,
                         compartment=compartment)
