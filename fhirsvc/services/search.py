"""Search use cases: type, system and compartment search (GET and POST `_search`) and
`Patient/$everything`. Each call first catches up with stored SearchParameters."""
from __future__ import annotations

from ..wire import check_type


class SearchService:
    def __init__(self, db, engine, sync):
        self.db = db
        self.engine = engine
        self._sync = sync

    def search(self, ctx, rtype: str | None, params, compartment: tuple[str, str] | None = None
               ) -> dict:
        """A searchset Bundle; `rtype` None is a system search, `compartment` (type, id)."""
        if rtype is not None:
            check_type(rtype)
        if compartment is not None:
            check_type(compartment[0])
        # the read replica when configured and caught up (storage.replica: read-your-writes)
        with self.db.unit_of_work(replica=True) as uow:
            self._sync(uow)
            return self.engine.search(uow, rtype, list(params), base_url=ctx.base_url,
                                      strict=ctx.strict_handling, compartment=compartment)

    def everything(self, ctx, patient_id: str, params) -> dict:
        with self.db.unit_of_work() as uow:
            self._sync(uow)
            return self.engine.everything(uow, patient_id, list(params), ctx.base_url)
