"""The audit trail as AuditEvent: read and search, for callers holding an auditor scope
(`system/AuditEvent.rs`). It is never writable or deletable through any door (the guard
refuses it; the database refuses UPDATE and DELETE of its rows)."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

import orjson

from ..outcomes import fail
from ..security.audit import audit_event
from ..security.guard import AUDIT_TYPE, forbidden
from ..storage import Stored, instant_to_micros

PARAMS = ("date", "agent", "entity", "entity-type", "subtype", "action", "outcome", "patient",
          "_count", "_offset")


class AuditService:
    def __init__(self, db, guard, log, max_count: int = 1000, default_count: int = 50):
        self.db = db
        self.guard = guard
        self.log = log                     # AuditLog: access records of other use cases
        self.max_count = max_count
        self.default_count = default_count

    def _auditor(self, ctx, letter: str) -> None:
        access = self.guard.require(ctx, AUDIT_TYPE, letter)
        if not access.unrestricted:
            raise forbidden("The audit trail is for auditors: it needs system/AuditEvent."
                            f"{letter} (or user/), not a patient/ or query-constrained scope")

    def read(self, ctx, rid: str) -> dict:
        return self.stored(ctx, rid).resource()

    def stored(self, ctx, rid: str) -> Stored:
        """AuditEvent/rid as a stored version (version 1: events never change)."""
        self._auditor(ctx, "r")
        if not rid.isdigit():
            raise fail(404, "not-found", f"AuditEvent/{rid} is not known")
        with self.db.unit_of_work() as uow:
            r = uow.audit.get(int(rid))
        if r is None:
            raise fail(404, "not-found", f"AuditEvent/{rid} is not known")
        return Stored(pk=0, resource_type=AUDIT_TYPE, resource_id=rid, version=1,
                      last_updated=r.recorded, deleted=False, method="POST",
                      content=orjson.dumps(audit_event(r)).decode())

    def search(self, ctx, params) -> dict:
        self._auditor(ctx, "s")
        since = before = None
        equals: dict = {}
        count, offset = self.default_count, 0
        for name, value in params:
            if name not in PARAMS:
                raise fail(400, "not-supported", f"AuditEvent search takes {', '.join(PARAMS)}"
                           f", not {name!r}", name)
            if name == "_count":
                count = min(_int(name, value), self.max_count)
            elif name == "_offset":
                offset = _int(name, value)
            elif name == "date":
                since, before = _date(value, since, before)
            elif name == "agent":
                equals["client_id"] = value.split("|", 1)[-1]
            elif name == "entity":
                rtype, _, rid = value.rpartition("/")
                if not rtype:
                    raise fail(400, "invalid", "entity takes Type/id", "entity")
                equals["resource_type"], equals["resource_id"] = rtype, rid
            elif name == "entity-type":
                equals["resource_type"] = tuple(value.split(","))
            elif name == "subtype":
                equals["interaction"] = tuple(v.split("|", 1)[-1] for v in value.split(","))
            elif name == "action":
                equals["action"] = tuple(value.split(","))
            elif name == "outcome":
                equals["outcome"] = tuple(value.split(","))
            elif name == "patient":
                equals["patient"] = value.removeprefix("Patient/")
        with self.db.unit_of_work() as uow:
            total, rows = uow.audit.find(since=since, before=before, equals=equals,
                                         count=count, offset=offset)
        base = f"{ctx.base_url}/AuditEvent"
        kept = [(k, v) for k, v in params if k not in ("_count", "_offset")]
        links = [{"relation": "self", "url": _url(base, kept + [("_count", str(count)),
                                                               ("_offset", str(offset))])}]
        if offset + count < total:
            links.append({"relation": "next", "url": _url(
                base, kept + [("_count", str(count)), ("_offset", str(offset + count))])})
        return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
                "entry": [{"fullUrl": f"{base}/{r.pk}", "resource": audit_event(r),
                           "search": {"mode": "match"}} for r in rows]}


def _url(base: str, q) -> str:
    return f"{base}?{urlencode(q)}"


def _int(name: str, value: str) -> int:
    if not value.isdigit():
        raise fail(400, "invalid", f"{name} must be a non-negative integer", name)
    return int(value)


def _date(value: str, since, before):
    prefix = value[:2] if value[:2] in ("ge", "gt", "le", "lt", "eq") else "eq"
    raw = value[2:] if value[:2] == prefix else value
    try:
        if len(raw) == 10:
            dt = datetime.fromisoformat(raw).replace(tzinfo=timezone.utc)
            low, high = instant_to_micros(dt), instant_to_micros(dt) + 86_400_000_000
        else:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            low = instant_to_micros(dt)
            high = low + 1_000_000
    except ValueError:
        raise fail(400, "invalid", f"date must be a date or instant (e.g. ge2026-01-31), not "
                   f"{value!r}", "date") from None
    if prefix in ("ge", "eq"):
        since = low if since is None else max(since, low)
    if prefix == "gt":
        since = high if since is None else max(since, high)
    if prefix in ("lt",):
        before = low if before is None else min(before, low)
    if prefix in ("le", "eq"):
        before = high if before is None else min(before, high)
    return since, before
