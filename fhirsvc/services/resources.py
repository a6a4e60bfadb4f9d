"""Resource use cases: read, vread, create, update, delete (plain and conditional), history,
transaction and batch Bundles, and converters' ingests.

Plain data and a RequestContext in; stored versions, typed results or Bundles out. Every write
goes through the ingestion pipeline; nothing here knows HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from .. import ingest
from ..context import DOOR_REST, DOOR_UI
from ..ingest import EntryResult, IngestResult, Outcome, ProvenanceRecord
from ..ingest.pipeline import request_line
from ..ingest.plan import Plan, Read, Search, WRITES
from ..jsontext import RawJson
from ..outcomes import GoneError, OperationOutcomeError, error, fail, operation_outcome
from ..storage import Stored, instant_to_micros, micros_to_instant
from ..summary import check_summary, select_elements, summarise
from ..wire import check_type, parse_json


# FHIRSVC_REST_PROVENANCE: a Provenance of every write of the REST doors (on), of
# transactions and batches only (transactions), none (off). The converters (HL7 v2, registry
# import, remote pull) always write theirs.
REST_PROVENANCE = ("on", "transactions", "off")
# The doors whose writes the REST Provenance records (the CLI and the job worker are the
# operator's own tools: their changes are in the audit trail)
PROVENANCE_DOORS = frozenset({DOOR_REST, DOOR_UI})

# Version numbers, counts and offsets beyond a 32-bit signed integer are refused before any
# SQL (the drivers would fail with an overflow, a 500).
MAX_DB_INT = 2 ** 31 - 1


@dataclass(frozen=True)
class Representation:
    """A stored version and the body to send: its text as stored, or a reduced copy."""
    stored: Stored
    body: str | dict


class ResourceService:
    def __init__(self, db, pipeline: ingest.IngestPipeline, config, audit_events=None):
        self.db = db
        self.pipeline = pipeline
        self.config = config
        self.guard = pipeline.guard          # fhirsvc.security.Guard (docs/security.md)
        self.audit_events = audit_events     # AuditService: AuditEvent is the audit trail
        from ..security.limits import client_classes
        self.client_classes = client_classes(getattr(config, "client_classes", None))
        self.rest_provenance = (getattr(config, "rest_provenance", "on") or "on").lower()
        if self.rest_provenance not in REST_PROVENANCE:
            raise ValueError(f"FHIRSVC_REST_PROVENANCE must be one of "
                             f"{', '.join(REST_PROVENANCE)}, not {self.rest_provenance!r}")

    # -- reads -------------------------------------------------------------------------------
    def read(self, ctx, rtype: str, rid: str, summary: str | None = None,
             elements: str | None = None) -> Representation:
        check_type(rtype)
        check_summary(summary)
        if rtype == "AuditEvent" and self.audit_events is not None:
            return self._audit_event(ctx, rid, summary, elements)
        self.guard.require(ctx, rtype, "r")
        with self.db.unit_of_work(read_only=True) as uow:   # one round trip on PostgreSQL
            stored = uow.resources.read(rtype, rid)
            if stored is not None:
                self.guard.check(ctx, uow, "r", stored)
        if stored is None and rtype == "OperationDefinition":  # the guide's own (issue 11)
            from .operations import guide_operation
            stored = guide_operation(self.config, rid)
        if stored is None:
            raise fail(404, "not-found", f"{rtype}/{rid} is not known")
        if stored.deleted:
            raise GoneError(error("deleted", f"{rtype}/{rid} was deleted (version "
                                  f"{stored.version})"), stored.version, stored.last_updated)
        return Representation(stored, shaped(stored, summary, elements))

    def vread(self, ctx, rtype: str, rid: str, vid: str, summary: str | None = None,
              elements: str | None = None) -> Representation:
        check_type(rtype)
        check_summary(summary)
        if rtype == "AuditEvent" and self.audit_events is not None:
            if vid != "1":
                raise fail(404, "not-found", f"AuditEvent/{rid} has only version 1")
            return self._audit_event(ctx, rid, summary, elements)
        if not vid.isdigit():
            raise fail(404, "not-found", f"{rtype}/{rid} has no version {vid!r}")
        self.guard.require(ctx, rtype, "r")
        if int(vid) > MAX_DB_INT:
            raise fail(400, "invalid", f"Version id {vid[:30]} is out of range (at most "
                       f"{MAX_DB_INT})")
        with self.db.unit_of_work(read_only=True) as uow:
            stored = uow.resources.vread(rtype, rid, int(vid))
            if stored is not None:
                self._check_version_access(ctx, uow, stored)
        if stored is None:
            raise fail(404, "not-found", f"{rtype}/{rid} has no version {vid}")
        if stored.deleted:
            raise GoneError(error("deleted", f"Version {vid} of {rtype}/{rid} is a delete"),
                            stored.version)
        return Representation(stored, shaped(stored, summary, elements))

    def _audit_event(self, ctx, rid, summary, elements) -> Representation:
        stored = self.audit_events.stored(ctx, rid)
        return Representation(stored, shaped(stored, summary, elements))

    def _check_version_access(self, ctx, uow, stored) -> None:
        """A version is read like the resource: a delete (or a version of a resource deleted
        since) needs `d` too; patient/ scopes judge a past version by its own content."""
        self.guard.check(ctx, uow, "r", stored)
        if ctx.enforce and not stored.deleted:
            current = uow.resources.read(stored.resource_type, stored.resource_id)
            if current is not None and current.deleted:
                self.guard.require(ctx, stored.resource_type, "d")

    # -- single writes: plans of one operation -------------------------------------------------
    def create(self, ctx, rtype: str, body, if_none_exist: str | None = None) -> EntryResult:
        return self._single(ctx, ingest.plan_create(rtype, body, if_none_exist))

    def update(self, ctx, rtype: str, rid: str, body, if_match: str | None = None
               ) -> EntryResult:
        return self._single(ctx, ingest.plan_update(rtype, rid, body, if_match))

    def conditional_update(self, ctx, rtype: str, criteria, body, if_match: str | None = None
                           ) -> EntryResult:
        return self._single(ctx, ingest.plan_conditional_update(rtype, criteria, body, if_match))

    def patch(self, ctx, rtype: str, rid: str, mimetype: str, body,
              if_match: str | None = None) -> EntryResult:
        return self._single(ctx, ingest.plan_patch(rtype, rid, mimetype, body, if_match))

    def conditional_patch(self, ctx, rtype: str, criteria, mimetype: str, body,
                          if_match: str | None = None) -> EntryResult:
        return self._single(ctx, ingest.plan_conditional_patch(rtype, criteria, mimetype, body,
                                                               if_match))

    def delete(self, ctx, rtype: str, rid: str, if_match: str | None = None) -> EntryResult:
        return self._single(ctx, ingest.plan_delete(rtype, rid, if_match))

    def conditional_delete(self, ctx, rtype: str, criteria) -> EntryResult:
        return self._single(ctx, ingest.plan_conditional_delete(rtype, criteria))

    def _single(self, ctx, plan: Plan) -> EntryResult:
        return self.pipeline.run(ctx, plan, self._provenance(ctx, plan)).single

    def _provenance(self, ctx, plan: Plan) -> ProvenanceRecord | None:
        """The Provenance a REST door's write gets (written by the pipeline in the unit of
        work of the change): one per single write (door = the context's), one per
        transaction (door `transaction`), one per written batch entry (door `batch`: each
        entry commits alone, so each gets its own in its own transaction)."""
        mode = self.rest_provenance
        if mode == "off" or ctx.door not in PROVENANCE_DOORS or \
                not any(isinstance(op, WRITES) for op in plan.ops):
            return None
        agent = ctx.caller or ("unauthenticated client" + (
            f" at {ctx.source}" if ctx.source else "") + " (auth off)")
        if plan.kind == "single":
            if mode != "on":
                return None
            return ProvenanceRecord(door=ctx.door, agent=agent,
                                    request=request_line(plan.ops[0]), written=True)
        bundle = plan.bundle if isinstance(plan.bundle, dict) else {}
        ident = bundle.get("identifier")
        idents = (ident,) if isinstance(ident, dict) and ident.get("value") else ()
        n = len(plan.ops)
        return ProvenanceRecord(door=plan.kind, agent=agent,
                                request=f"{plan.kind} Bundle of {n} entr"
                                f"{'y' if n == 1 else 'ies'}",
                                request_identifiers=idents, written=True)

    # -- Bundles ---------------------------------------------------------------------------------
    def bundle(self, ctx, body, return_resources: bool = False) -> dict:
        """A transaction or batch Bundle -> its transaction-response / batch-response Bundle."""
        if isinstance(body, (bytes, bytearray, str)):
            body = parse_json(body)
        entries = body.get("entry") if isinstance(body, dict) else None
        if isinstance(entries, list) and len(entries) > self.config.bundle_max_entries:
            raise fail(413, "too-costly", f"The Bundle has {len(entries)} entries; at most "
                       f"{self.config.bundle_max_entries} are accepted in one request (split "
                       "it)", "Bundle.entry")
        from ..security.limits import check_entries
        check_entries(ctx, self.client_classes, body)
        plan = ingest.plan_bundle(body)
        result = self.pipeline.run(ctx, plan, self._provenance(ctx, plan))
        return response_bundle(ctx, plan, result, return_resources)

    def ingest(self, ctx, bundle: dict, provenance: ProvenanceRecord, *, merge=None,
               keep_unchanged: bool = False, before_commit=None) -> IngestResult:
        """A converter's transaction Bundle, stored all or nothing with a Provenance of it.
        `merge(entry index, current, new) -> resource`, `keep_unchanged` (an update equal to
        what is stored writes nothing) and `before_commit(uow, result)` (a door's own rows in
        the same unit of work): see `IngestPipeline.run`."""
        plan = ingest.plan_bundle(bundle)
        if plan.kind != "transaction":
            raise fail(400, "invalid", "A converter hands in a transaction Bundle",
                       "Bundle.type")
        return self.pipeline.run(ctx, plan, provenance, merge=merge,
                                 keep_unchanged=keep_unchanged, before_commit=before_commit)

    # -- history ---------------------------------------------------------------------------------
    def history(self, ctx, rtype: str | None, rid: str | None, params) -> dict:
        if rtype is not None:
            check_type(rtype)
        if rtype == "AuditEvent":
            raise fail(405, "not-supported", "AuditEvent has no history: each event is "
                       "recorded once and never changes (search AuditEvent instead)")
        # history of an instance is a read of it, of a type or the system a search (SMART)
        letter = "r" if rid is not None else "s"
        access = self.guard.require(ctx, rtype or "*", letter)
        args = dict(params)
        count = min(_int_param(args, "_count", self.config.default_page_size),
                    self.config.max_page_size)
        offset = _int_param(args, "_offset", 0)
        since = _instant_param(args, "_since")
        at = _instant_param(args, "_at")
        with self.db.unit_of_work() as uow:
            current = uow.resources.read(rtype, rid) if rid is not None else None
            if rid is not None and current is None:
                raise fail(404, "not-found", f"{rtype}/{rid} is not known")
            if current is not None and ctx.enforce:
                if current.deleted:  # the history of a deleted resource: needs d as well
                    self.guard.require(ctx, rtype, "d")
                else:
                    self.guard.check(ctx, uow, "r", current)
            total, rows = uow.resources.history(rtype, rid, since=since, at=at, count=count,
                                                offset=offset)
            if ctx.enforce:
                kept = self.guard.admit(ctx, uow, letter, rows)
                filtered = len(kept) != len(rows) or not access.unrestricted
                rows = kept
            else:
                filtered = False
            if at is None and rows and offset == 0:
                at = rows[0].last_updated  # pin later pages to this snapshot
        base = ctx.base_url
        path = "/".join(p for p in (rtype, rid, "_history") if p)
        entries = []
        for s in rows:
            entry: dict = {"fullUrl": f"{base}/{s.resource_type}/{s.resource_id}"}
            if not s.deleted:
                entry["resource"] = RawJson(s.content)
            entry["request"] = {"method": s.method,
                                "url": s.resource_type if s.method == "POST"
                                else f"{s.resource_type}/{s.resource_id}"}
            entry["response"] = {"status": "201" if s.method == "POST" else "200",
                                 "etag": f'W/"{s.version}"',
                                 "lastModified": s.last_updated_instant}
            entries.append(entry)
        base_q = [("_count", str(count))]
        if since is not None and "_since" in args:
            base_q.append(("_since", args["_since"]))
        links = [{"relation": "self", "url": _link(base, path, base_q + (
            [("_offset", str(offset))] if offset else []))}]
        pin = [("_at", micros_to_instant(at))] if at is not None else []
        if offset + count < total:
            links.append({"relation": "next", "url": _link(
                base, path, base_q + pin + [("_offset", str(offset + count))])})
        if offset > 0:
            links.append({"relation": "previous", "url": _link(
                base, path, base_q + pin + [("_offset", str(max(0, offset - count)))])})
        out = {"resourceType": "Bundle", "type": "history", "total": total, "link": links,
               "entry": entries}
        if filtered:
            del out["total"]  # would count versions the caller may not see
        return out


def shaped(stored: Stored, summary: str | None, elements: str | None) -> str | dict:
    """The stored text as is, unless _summary / _elements ask for a reduced copy."""
    if summary in (None, "false") and not elements:
        return stored.content
    res = stored.resource()
    if summary not in (None, "false"):
        res = summarise(res, summary)
    if elements:
        res = select_elements(res, elements)
    return res


def response_bundle(ctx, plan: Plan, result: IngestResult, return_resources: bool) -> dict:
    """The transaction-response / batch-response Bundle, entries in request order."""
    entries = []
    for op, r in zip(plan.ops, result.entries):
        response: dict = {"status": status_line(r.status)}
        entry: dict = {}
        stored = r.stored
        if stored is not None and not stored.deleted:
            response["location"] = (f"{stored.resource_type}/{stored.resource_id}"
                                    f"/_history/{stored.version}")
            response["etag"] = f'W/"{stored.version}"'
            response["lastModified"] = stored.last_updated_instant
            entry["fullUrl"] = f"{ctx.base_url}/{stored.resource_type}/{stored.resource_id}"
            if (return_resources or isinstance(op, (Read, Search))) \
                    and r.outcome is not Outcome.NOT_MODIFIED:
                entry["resource"] = RawJson(stored.content)
        elif stored is not None:
            response["etag"] = f'W/"{stored.version}"'
            response["lastModified"] = stored.last_updated_instant
        if r.body is not None:
            entry["resource"] = r.body
        if r.issues:
            response["outcome"] = operation_outcome(r.issues)
        entry["response"] = response
        entries.append(entry)
    return {"resourceType": "Bundle", "type": f"{plan.kind}-response", "entry": entries}


def status_line(code: int) -> str:
    from http import HTTPStatus
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _link(base_url: str, path: str, query: list[tuple[str, str]]) -> str:
    return f"{base_url}/{path}" + (f"?{urlencode(query)}" if query else "")


def _int_param(args: dict, name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise fail(400, "invalid", f"Parameter {name} must be a non-negative integer, not "
                   f"{raw!r}", name)
    if int(raw) > MAX_DB_INT:
        raise fail(400, "invalid", f"Parameter {name}={raw[:30]} is out of range (at most "
                   f"{MAX_DB_INT})", name)
    return int(raw)


def _instant_param(args: dict, name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise fail(400, "invalid", f"Parameter {name} must be an instant such as "
                   f"2024-01-31T10:00:00Z, not {raw!r}", name) from None
    return instant_to_micros(dt)


__all__ = ["Representation", "ResourceService", "OperationOutcomeError", "response_bundle"]
