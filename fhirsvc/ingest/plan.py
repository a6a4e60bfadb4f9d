"""Plans: every write, whatever door it came through, becomes an immutable, typed plan.

A REST create is a plan of one `Create`; a transaction or batch Bundle is a plan of one
operation per entry. Planning only reads the request (no database): it checks the entries'
shape, parses request URLs into type / id / criteria, assigns ids to creates and refuses a
transaction that names one resource twice. Resolving criteria and identities against the
database is the pipeline's job (`resolve.py`) and produces its own values; the plan is never
changed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qsl, urlsplit

from ..outcomes import Issue, OperationOutcomeError, error
from ..wire import check_id, check_type, parse_version, resource_body
from .patch import PatchDocument, parse_patch, patch_from_entry, patch_references
from .references import iter_references

Query = tuple[tuple[str, str], ...]

# R4 transaction processing order (http.html#trules): DELETE, POST, PUT/PATCH, GET/HEAD.
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


def new_id() -> str:
    return str(uuid.uuid4())


def parse_query(query: str) -> Query:
    return tuple(parse_qsl(query, keep_blank_values=True))


@dataclass(frozen=True, kw_only=True)
class Op:
    """One planned interaction. `location` prefixes the FHIRPath of its issues."""

    index: int = 0                  # position in the request (Bundle.entry index)
    location: str = ""
    full_url: str | None = None

    method = ""                     # class attribute: the entry's request.method

    @property
    def order(self) -> int:
        return ORDER[self.method]

    @cached_property
    def written_references(self) -> tuple[str, ...]:
        """The references this operation writes: its resource's, or those in a patch's
        values (JSON Patch, Merge Patch, FHIRPath Patch), which resolve like any other.
        Found once per operation (the guard and resolve both need them; walking a
        resource for them cost ~3% of an ingest each time)."""
        patch = getattr(self, "patch", None)
        if isinstance(patch, PatchDocument):
            return tuple(patch_references(patch))
        resource = getattr(self, "resource", None)
        return tuple(iter_references(resource)) if resource is not None else ()


@dataclass(frozen=True, kw_only=True)
class Create(Op):
    rtype: str
    rid: str                        # assigned at planning (or the match of if_none_exist)
    resource: dict
    if_none_exist: Query | None = None
    method = "POST"


@dataclass(frozen=True, kw_only=True)
class Update(Op):
    rtype: str
    rid: str
    resource: dict
    if_match: int | None = None
    method = "PUT"


@dataclass(frozen=True, kw_only=True)
class ConditionalUpdate(Op):
    rtype: str
    criteria: Query
    resource: dict
    if_match: int | None = None
    method = "PUT"


@dataclass(frozen=True, kw_only=True)
class Patch(Op):
    """PATCH Type/id: the document is applied to the current version inside the write
    transaction, and the result validated there (it is not known before)."""
    rtype: str
    rid: str
    patch: PatchDocument
    if_match: int | None = None
    method = "PATCH"


@dataclass(frozen=True, kw_only=True)
class ConditionalPatch(Op):
    rtype: str
    criteria: Query
    patch: PatchDocument
    if_match: int | None = None
    method = "PATCH"


@dataclass(frozen=True, kw_only=True)
class Delete(Op):
    rtype: str
    rid: str
    if_match: int | None = None
    method = "DELETE"


@dataclass(frozen=True, kw_only=True)
class ConditionalDelete(Op):
    rtype: str
    criteria: Query
    method = "DELETE"


@dataclass(frozen=True, kw_only=True)
class Read(Op):
    """GET Type/id or Type/id/_history/vid inside a Bundle."""
    rtype: str
    rid: str
    vid: str | None = None
    if_none_match: int | None = None
    url: str = ""
    method = "GET"


@dataclass(frozen=True, kw_only=True)
class Search(Op):
    """GET Type?criteria (or [base]?criteria) inside a Bundle."""
    rtype: str | None
    query: Query = ()
    url: str = ""
    method = "GET"


@dataclass(frozen=True, kw_only=True)
class Rejected(Op):
    """A batch entry that could not be planned: it fails on its own with this error."""
    error: OperationOutcomeError
    method = "GET"                  # processed with the reads; never touches storage


WRITES = (Create, Update, ConditionalUpdate, Patch, ConditionalPatch, Delete, ConditionalDelete)
PATCHES = (Patch, ConditionalPatch)


def resource_of(op: Op) -> dict | None:
    return getattr(op, "resource", None)


@dataclass(frozen=True)
class Plan:
    kind: str                       # "single" | "transaction" | "batch"
    ops: tuple[Op, ...]
    bundle: dict | None = None      # the request Bundle (a transaction is validated whole)

    @property
    def read_only(self) -> bool:
        return not any(isinstance(op, WRITES) for op in self.ops)


# -- single interactions --------------------------------------------------------------------

def plan_create(rtype: str, body: object, if_none_exist: str | None = None) -> Plan:
    resource = resource_body(rtype, body)
    ine = parse_query(if_none_exist.split("?", 1)[-1]) if if_none_exist else None
    return Plan("single", (Create(rtype=rtype, rid=new_id(), resource=resource,
                                  if_none_exist=ine or None, location=rtype),))


def plan_update(rtype: str, rid: str, body: object, if_match: str | None = None) -> Plan:
    resource = resource_body(rtype, body)
    check_id(rid, f"{rtype}.id")
    if resource.get("id") is None:
        raise _bad(f"The resource in an update must carry its id ({rid!r})", f"{rtype}.id",
                   code="required")
    if resource.get("id") != rid:
        raise _bad(f"Resource id {resource.get('id')!r} does not match the url id {rid!r}",
                   f"{rtype}.id")
    return Plan("single", (Update(rtype=rtype, rid=rid, resource=resource,
                                  if_match=parse_version(if_match), location=rtype),))


def plan_conditional_update(rtype: str, criteria: Query, body: object,
                            if_match: str | None = None) -> Plan:
    resource = resource_body(rtype, body)
    if not criteria:
        raise _bad("PUT needs an id (PUT /Type/id) or search criteria for a conditional update "
                   "(PUT /Type?identifier=...)")
    return Plan("single", (ConditionalUpdate(rtype=rtype, criteria=tuple(criteria),
                                             resource=resource, if_match=parse_version(if_match),
                                             location=rtype),))


def plan_patch(rtype: str, rid: str, mimetype: str, body: object,
               if_match: str | None = None) -> Plan:
    check_type(rtype)
    check_id(rid, f"{rtype}.id")
    doc = parse_patch(mimetype, body, rtype)
    return Plan("single", (Patch(rtype=rtype, rid=rid, patch=doc,
                                 if_match=parse_version(if_match), location=rtype),))


def plan_conditional_patch(rtype: str, criteria: Query, mimetype: str, body: object,
                           if_match: str | None = None) -> Plan:
    check_type(rtype)
    if not criteria:
        raise _bad("PATCH needs an id (PATCH /Type/id) or search criteria for a conditional "
                   "patch (PATCH /Type?identifier=...)")
    doc = parse_patch(mimetype, body, rtype)
    return Plan("single", (ConditionalPatch(rtype=rtype, criteria=tuple(criteria), patch=doc,
                                            if_match=parse_version(if_match),
                                            location=rtype),))


def plan_delete(rtype: str, rid: str, if_match: str | None = None) -> Plan:
    check_type(rtype)
    return Plan("single", (Delete(rtype=rtype, rid=rid, if_match=parse_version(if_match),
                                  location=rtype),))


def plan_conditional_delete(rtype: str, criteria: Query) -> Plan:
    check_type(rtype)
    if not criteria:
        raise OperationOutcomeError(error(
            "multiple-matches", "A conditional delete needs search criteria"), 412)
    return Plan("single", (ConditionalDelete(rtype=rtype, criteria=tuple(criteria),
                                             location=rtype),))


# -- Bundles ----------------------------------------------------------------------------------

def plan_bundle(bundle: object) -> Plan:
    """Check a transaction or batch Bundle and plan its entries (request order).

    A malformed transaction is a 400 listing every problem found; a malformed batch entry
    fails alone (a `Rejected` op)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise _bad("POST to the base takes a Bundle (type transaction or batch)", "resourceType")
    btype = bundle.get("type")
    if btype not in ("transaction", "batch"):
        raise _bad(f"POST to the base accepts Bundle.type 'transaction' or 'batch', not "
                   f"{btype!r}", "Bundle.type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise _bad("Bundle.entry must be an array", "Bundle.entry", code="structure")
    ops: list[Op] = []
    issues: list[Issue] = []
    statuses: set[int] = set()
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        try:
            ops.append(_plan_entry(i, entry, where))
        except OperationOutcomeError as exc:
            if btype == "transaction":
                issues.extend(exc.issues)
                statuses.add(exc.status)
            else:
                ops.append(Rejected(index=i, location=where, error=exc))
    if issues:
        # the entries' own status when they agree (an unknown type is 404 everywhere)
        raise OperationOutcomeError(issues, statuses.pop() if len(statuses) == 1 else 400)
    if btype == "transaction":
        _check_identities(ops)
    return Plan(btype, tuple(ops), bundle)


def _split_url(url: str, where: str) -> tuple[str | None, str | None, str | None, Query | None]:
    """`Patient/1`, `Patient?identifier=x`, `Patient/1/_history/2` -> (type, id, vid, query)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        raise _bad(f"Entry request url must be relative (Type, Type/id or Type?query), not "
                   f"{url!r}", where)
    path = parts.path.strip("/")
    query = parse_query(parts.query) if parts.query or url.endswith("?") else None
    segs = [s for s in path.split("/") if s] if path else []
    rtype = segs[0] if segs else None
    rid = segs[1] if len(segs) > 1 else None
    vid = segs[3] if len(segs) >= 4 and segs[2] == "_history" else None
    return rtype, rid, vid, query


def _plan_entry(i: int, entry: object, where: str) -> Op:
    if not isinstance(entry, dict):
        raise _bad("Bundle entry must be an object", where, code="structure")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise _bad("Entry has no request (method and url are required in a transaction or "
                   "batch)", f"{where}.request", code="required")
    method, url = request.get("method"), request.get("url")
    if method not in ORDER:
        raise _bad(f"Unsupported request method {method!r}", f"{where}.request.method",
                   code="not-supported")
    if not isinstance(url, str) or not url:
        raise _bad("Entry request has no url", f"{where}.request.url", code="required")
    url_where = f"{where}.request.url"
    rtype, rid, vid, query = _split_url(url, url_where)
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    common = dict(index=i, location=f"{where}.resource", full_url=full_url)
    if_match = parse_version(request.get("ifMatch"), f"{where}.request.ifMatch")

    if method in ("POST", "PUT"):
        check_type(rtype, url_where)
        if not isinstance(entry.get("resource"), dict):
            raise _bad(f"{method} entry has no resource", f"{where}.resource", code="required")
        resource = entry["resource"]
        if resource.get("resourceType") != rtype:
            raise _bad(f"Entry resource is a {resource.get('resourceType')!r} but the request "
                       f"url names {rtype!r}", f"{where}.resource.resourceType")
        if method == "POST":
            if rid is not None:
                raise _bad("POST url must be the resource type only", url_where)
            ine = request.get("ifNoneExist")
            criteria = parse_query(ine.split("?", 1)[1] if "?" in ine else ine) if ine else None
            return Create(rtype=rtype, rid=new_id(), resource=resource,
                          if_none_exist=criteria or None, **common)
        if rid is not None:
            check_id(rid, url_where)
            body_id = resource.get("id")
            if body_id is not None and body_id != rid:
                raise _bad(f"Resource id {body_id!r} does not match the url id {rid!r}",
                           f"{where}.resource.id")
            return Update(rtype=rtype, rid=rid, resource=resource, if_match=if_match, **common)
        if query is None:
            raise _bad("PUT url needs an id or search criteria", url_where)
        return ConditionalUpdate(rtype=rtype, criteria=query, resource=resource,
                                 if_match=if_match, **common)
    if method == "PATCH":
        check_type(rtype, url_where)
        doc = patch_from_entry(entry.get("resource"), rtype, f"{where}.resource")
        if rid is not None:
            check_id(rid, url_where)
            return Patch(rtype=rtype, rid=rid, patch=doc, if_match=if_match, **common)
        if query is None:
            raise _bad("PATCH url needs an id or search criteria", url_where)
        return ConditionalPatch(rtype=rtype, criteria=query, patch=doc, if_match=if_match,
                                **common)
    if method == "DELETE":
        check_type(rtype, url_where)
        if rid is not None:
            return Delete(rtype=rtype, rid=rid, if_match=if_match, **common)
        if query is None:
            raise _bad("DELETE url needs an id or search criteria", url_where)
        return ConditionalDelete(rtype=rtype, criteria=query, **common)
    # GET / HEAD
    if rtype is not None and not rtype.startswith(("$", "_")):
        check_type(rtype, url_where)
    if rtype is not None and rid is not None and not rtype.startswith(("$", "_")):
        return Read(rtype=rtype, rid=rid, vid=vid, url=url,
                    if_none_match=parse_version(request.get("ifNoneMatch"),
                                                f"{where}.request.ifNoneMatch"), **common)
    return Search(rtype=rtype, query=query or (), url=url, **common)


def _check_identities(ops: list[Op]) -> None:
    """A transaction may not name the same resource twice (R4 http.html#trules)."""
    seen_full: dict[str, int] = {}
    seen_ref: dict[str, int] = {}
    issues = []
    for op in ops:
        if op.full_url and isinstance(op, (Create, Update, ConditionalUpdate)):
            if op.full_url in seen_full:
                issues.append(error("invalid", f"fullUrl {op.full_url!r} appears in entries "
                                    f"{seen_full[op.full_url]} and {op.index}",
                                    f"Bundle.entry[{op.index}].fullUrl"))
            seen_full[op.full_url] = op.index
        if isinstance(op, (Update, Patch, Delete)):
            key = f"{op.rtype}/{op.rid}"
        elif isinstance(op, (ConditionalUpdate, ConditionalPatch, ConditionalDelete)):
            key = f"{op.rtype}?{sorted(op.criteria)}"
        else:
            continue
        if key in seen_ref:
            issues.append(error("invalid", f"{key} is the target of entries {seen_ref[key]} and "
                                f"{op.index}; a transaction may touch a resource once",
                                f"Bundle.entry[{op.index}].request.url"))
        seen_ref[key] = op.index
    if issues:
        raise OperationOutcomeError(issues, 400)


def processing_order(ops) -> list[Op]:
    return sorted(ops, key=lambda op: (op.order, op.index))


def _bad(message: str, *expression: str, code: str = "invalid", status: int = 400
         ) -> OperationOutcomeError:
    return OperationOutcomeError(error(code, message, *expression), status)
