"""Search use cases: type, system and compartment search (GET and POST `_search`) and
`Patient/$everything`. Each call first catches up with stored SearchParameters, and asks the
guard (fhirsvc/security) what the caller may see: a patient/ scope narrows the search to the
patient's compartment, a query-constrained scope adds its parameters, and _include /
_revinclude / $everything results the caller may not read are left out."""
from __future__ import annotations

from ..wire import check_type


class SearchService:
    def __init__(self, db, engine, sync, guard=None, audit_events=None):
        self.db = db
        self.engine = engine
        self._sync = sync
        if guard is None:
            from ..security.guard import Guard
            guard = Guard(engine.registry, engine)
        self.guard = guard
        self.audit_events = audit_events  # AuditService: AuditEvent is the audit trail

    def search(self, ctx, rtype: str | None, params, compartment: tuple[str, str] | None = None
               ) -> dict:
        """A searchset Bundle; `rtype` None is a system search, `compartment` (type, id)."""
        if rtype is not None:
            check_type(rtype)
        if compartment is not None:
            check_type(compartment[0])
        if rtype == "AuditEvent" and compartment is None and self.audit_events is not None:
            return self.audit_events.search(ctx, list(params))
        params, compartment = self.guard.search(ctx, rtype, list(params), compartment)
        # the read replica when configured and caught up (storage.replica: read-your-writes);
        # read-only: its statements autocommitted, no BEGIN / COMMIT around them (PostgreSQL)
        with self.db.unit_of_work(replica=True, read_only=True) as uow:
            self._sync(uow)
            return self.engine.search(uow, rtype, params, base_url=ctx.base_url,
                                      strict=ctx.strict_handling, compartment=compartment,
                                      admit=self._admit(ctx))

    def everything(self, ctx, patient_id: str, params) -> dict:
        self.guard.patient_context(ctx, patient_id, "r")
        with self.db.unit_of_work() as uow:
            self._sync(uow)
            return self.engine.everything(uow, patient_id, list(params), ctx.base_url,
                                          admit=self._admit(ctx))

    def _admit(self, ctx):
        if not ctx.enforce:
            return None
        return lambda uow, items: self.guard.admit(ctx, uow, "r", items)
