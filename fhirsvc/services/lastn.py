"""Observation/$lastn: the most recent observations per patient and code (fhirsvc.search.lastn)."""
from __future__ import annotations

from ..search.lastn import lastn


class LastNService:
    def __init__(self, db, engine, sync, max_candidates: int = 10_000):
        self.db = db
        self.engine = engine
        self._sync = sync
        self.max_candidates = max_candidates

    def lastn(self, ctx, params) -> dict:
        with self.db.unit_of_work() as uow:
            self._sync(uow)
            return lastn(self.engine, uow, list(params), ctx.base_url, self.max_candidates)
