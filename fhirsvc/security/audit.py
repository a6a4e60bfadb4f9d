"""The audit trail: one row per access or change, served as R4 AuditEvent.

Changes are recorded by the ingestion pipeline in the unit of work that makes them
(`change_rows`), so a change and its record commit together or not at all. Reads and
searches are recorded by `AuditLog.record` (sampled by `audit_read_sample`; denials and
failures always): buffered and written in batches by a background thread, so a search does not
wait for an audit INSERT (a crash loses at most the last flush interval of read records).
"""
from __future__ import annotations

import base64
import logging
import random
import threading
import time

from ..storage.security import now_micros

log = logging.getLogger("fhirsvc.audit")

ACTIONS = {"create": "C", "update": "U", "delete": "D", "read": "R", "vread": "R",
           "history-instance": "R", "history-type": "R", "history-system": "R",
           "search-type": "E", "search-system": "E", "search-compartment": "E",
           "everything": "E", "validate": "E", "transaction": "E", "batch": "E",
           "capabilities": "R", "operation": "E", "token": "E", "login": "E"}
OUTCOME_SUCCESS, OUTCOME_MINOR, OUTCOME_SERIOUS = "0", "4", "8"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
AUDIT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-type"
CLIENT_SYSTEM = "http://fhirsvc.org/fhir/client-id"


def outcome_of(status: int | None) -> str:
    if status is None or status < 400:
        return OUTCOME_SUCCESS
    return OUTCOME_MINOR if status < 500 else OUTCOME_SERIOUS


def row(ctx, interaction: str, *, status: int | None = None, rtype: str | None = None,
        rid: str | None = None, version: int | None = None, query: str | None = None,
        detail: str | None = None, action: str | None = None) -> dict:
    return {"recorded": now_micros(), "door": ctx.door, "interaction": interaction,
            "action": action or ACTIONS.get(interaction, "E"), "outcome": outcome_of(status),
            "status": status, "client_id": ctx.caller, "user_id": ctx.user,
            "patient": ctx.patient, "resource_type": rtype, "resource_id": rid,
            "version": version, "query": query, "source": ctx.source,
            "request_id": ctx.request_id, "detail": (detail or None) and detail[:2000]}


def change_rows(ctx, results) -> list[dict]:
    """The audit rows of what one unit of work changed (EntryResults of the pipeline)."""
    out = []
    for r in results:
        s = r.stored
        if s is None or r.outcome.name not in ("CREATED", "UPDATED", "DELETED"):
            continue
        interaction = {"CREATED": "create", "UPDATED": "update",
                       "DELETED": "delete"}[r.outcome.name]
        out.append(row(ctx, interaction, status=r.status, rtype=s.resource_type,
                       rid=s.resource_id, version=s.version))
    return out


class AuditLog:
    """Buffered writer of access records (reads, searches, denials) for one process."""

    def __init__(self, db, read_sample: float = 1.0, flush_interval: float = 1.0,
                 max_buffer: int = 500):
        self.db = db
        self.read_sample = read_sample
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._buffer: list[dict] = []
        self._lock = threading.Lock()
        # one flush at a time: flush() returns only when what was recorded before is stored,
        # even if the background thread had already taken it
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pid = None

    def record(self, ctx, interaction: str, **fields) -> None:
        """Record an access. Successful reads are sampled; everything else is kept."""
        status = fields.get("status")
        action = fields.get("action") or ACTIONS.get(interaction, "E")
        if action in ("R", "E") and (status is None or status < 400) \
                and self.read_sample < 1.0 and random.random() >= self.read_sample:
            return
        item = row(ctx, interaction, **fields)
        with self._lock:
            self._buffer.append(item)
            full = len(self._buffer) >= self.max_buffer
        self._ensure_thread()
        if full:
            self._wake.set()

    def _ensure_thread(self) -> None:
        import os
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() \
                    and self._thread.is_alive():
                return
            self._pid = os.getpid()  # after a fork (gunicorn) each worker has its own
            self._thread = threading.Thread(target=self._run, name="audit-flush", daemon=True)
            self._thread.start()
            import atexit
            atexit.register(self._flush_quietly)  # a worker's exit writes what it holds

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:
            log.exception("audit records lost at exit")

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the thread; the rows stay buffered for the next try
                log.exception("could not write audit records; retrying")
                time.sleep(self.flush_interval)

    def flush(self) -> int:
        """Write everything buffered now (tests, shutdown). Returns the number written."""
        with self._flush_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return 0
            try:
                with self.db.unit_of_work(write=True) as uow:
                    uow.audit.append(pending)
                    uow.commit()
            except Exception:
                with self._lock:
                    self._buffer[:0] = pending
                raise
            return len(pending)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)  # a flush under way ends before the database goes
        try:
            self.flush()
        except Exception:
            log.exception("audit records lost at shutdown")


def micros_instant(us: int) -> str:
    t = time.gmtime(us // 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{(us % 1_000_000) // 1000:03d}Z"


def audit_event(r) -> dict:
    """An audit row as an R4 AuditEvent."""
    ev: dict = {
        "resourceType": "AuditEvent",
        "id": str(r.pk),
        "meta": {"versionId": "1", "lastUpdated": micros_instant(r.recorded)},
        "type": {"system": AUDIT_TYPE_SYSTEM, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL, "code": r.interaction}],
        "action": r.action,
        "recorded": micros_instant(r.recorded),
        "outcome": r.outcome,
    }
    if r.detail:
        ev["outcomeDesc"] = r.detail
    agent: dict = {"requestor": True,
                   "type": {"coding": [{
                       "system": "http://dicom.nema.org/resources/ontology/DCM",
                       "code": "110150", "display": "Application"}]}}
    if r.client_id:
        agent["who"] = {"identifier": {"system": CLIENT_SYSTEM, "value": r.client_id},
                        "display": r.client_id}
    else:
        agent["who"] = {"display": f"unauthenticated ({r.door})"}
    if r.user_id:
        agent["altId"] = r.user_id
    if r.source:
        agent["network"] = {"address": r.source, "type": "2"}
    agents = [agent]
    ev["agent"] = agents
    ev["source"] = {"observer": {"display": "fhirsvc"},
                    "type": [{"system": "http://terminology.hl7.org/CodeSystem/"
                              "security-source-type", "code": "4",
                              "display": "Application Server"}]}
    entities = []
    if r.resource_type:
        ref = r.resource_type + (f"/{r.resource_id}" if r.resource_id else "")
        if r.resource_id and r.version:
            ref += f"/_history/{r.version}"
        ent: dict = {"what": {"reference": ref} if r.resource_id else {"display": ref},
                     "type": {"system": "http://hl7.org/fhir/resource-types",
                              "code": r.resource_type}}
        if r.query:
            ent["query"] = base64.b64encode(r.query.encode()).decode()
        entities.append(ent)
    elif r.query:
        entities.append({"query": base64.b64encode(r.query.encode()).decode()})
    if r.patient:
        entities.append({"what": {"reference": f"Patient/{r.patient}"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/"
                                  "object-role", "code": "1", "display": "Patient"}})
    if r.request_id:
        entities.append({"what": {"identifier": {"system": "urn:fhirsvc:request-id",
                                                 "value": r.request_id}}})
    if entities:
        ev["entity"] = entities
    return ev
