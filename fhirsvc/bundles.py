"""Planning writes: every write (REST interaction or Bundle entry) becomes an `Op`.

A single create is a plan of one POST; a transaction is a plan of many. This module only reads
the request (no database): it checks the entries' shape, parses URLs into type / id / search
query, assigns ids to creates, and knows the R4 processing order and how references to
`urn:uuid:` / `urn:oid:` / fullUrl identities are rewritten.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from .outcomes import Issue, OperationOutcomeError, error
from .resource_types import RESOURCE_TYPES

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# R4 transaction processing order (http.html#trules).
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
METHODS = frozenset(ORDER)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Op:
    """One planned interaction."""

    index: int                      # position in the request (Bundle.entry index)
    method: str                     # GET POST PUT DELETE
    rtype: str | None               # None for system-level GET
    rid: str | None = None          # logical id (assigned for POST)
    vid: str | None = None          # _history/[vid] on GET
    query: list[tuple[str, str]] | None = None  # conditional / search criteria
    resource: dict | None = None
    full_url: str | None = None
    if_none_exist: list[tuple[str, str]] | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    url: str = ""
    location: str = ""              # FHIRPath prefix for issues of this entry
    extra: dict = field(default_factory=dict)


def bad(message: str, *expression: str, code: str = "invalid", status: int = 400
        ) -> OperationOutcomeError:
    return OperationOutcomeError(error(code, message, *expression), status)


def parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def split_request_url(url: str, where: str) -> tuple[str | None, str | None, str | None,
                                                       list[tuple[str, str]] | None]:
    """`Patient/1`, `Patient?identifier=x`, `Patient/1/_history/2` -> (type, id, vid, query)."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    query = parse_query(parts.query) if parts.query or url.endswith("?") else None
    if parts.scheme or parts.netloc:
        raise bad(f"Entry request url must be relative (Type, Type/id or Type?query), not {url!r}",
                  where)
    segs = [s for s in path.split("/") if s] if path else []
    rtype = segs[0] if segs else None
    rid = segs[1] if len(segs) > 1 else None
    vid = None
    if len(segs) >= 4 and segs[2] == "_history":
        vid = segs[3]
    return rtype, rid, vid, query


def check_type(rtype: str | None, where: str) -> str:
    if rtype not in RESOURCE_TYPES:
        raise bad(f"Unknown resource type {rtype!r}", where, code="not-supported")
    return rtype


def check_id(rid: str, where: str) -> str:
    if not isinstance(rid, str) or not ID_RE.match(rid):
        raise bad(f"Invalid resource id {rid!r}: 1-64 characters A-Z a-z 0-9 - .", where)
    return rid


def plan_bundle(bundle: dict) -> tuple[str, list[Op]]:
    """Check a transaction or batch Bundle and turn its entries into Ops (request order).

    Raises OperationOutcomeError (400) for a malformed bundle, with every problem found.
    """
    btype = bundle.get("type")
    if btype not in ("transaction", "batch"):
        raise bad(f"POST to the base accepts Bundle.type 'transaction' or 'batch', not {btype!r}",
                  "Bundle.type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise bad("Bundle.entry must be an array", "Bundle.entry", code="structure")
    ops: list[Op] = []
    issues: list[Issue] = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        try:
            ops.append(_plan_entry(i, entry, where))
        except OperationOutcomeError as exc:
            if btype == "transaction":
                issues.extend(exc.issues)
            else:  # batch: the entry fails on its own
                op = Op(index=i, method="INVALID", rtype=None, location=where)
                op.extra["error"] = exc
                ops.append(op)
    if issues:
        raise OperationOutcomeError(issues, 400)
    if btype == "transaction":
        _check_identities(ops)
    return btype, ops


def _plan_entry(i: int, entry, where: str) -> Op:
    if not isinstance(entry, dict):
        raise bad("Bundle entry must be an object", where, code="structure")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise bad("Entry has no request (method and url are required in a transaction or batch)",
                  f"{where}.request", code="required")
    method = request.get("method")
    url = request.get("url")
    if method not in METHODS:
        raise bad(f"Unsupported request method {method!r}", f"{where}.request.method",
                  code="not-supported")
    if method == "PATCH":
        raise bad("PATCH is not supported", f"{where}.request.method", code="not-supported")
    if not isinstance(url, str) or not url:
        raise bad("Entry request has no url", f"{where}.request.url", code="required")
    rtype, rid, vid, query = split_request_url(url, f"{where}.request.url")
    resource = entry.get("resource")
    full_url = entry.get("fullUrl")
    op = Op(index=i, method=method, rtype=rtype, rid=rid, vid=vid, query=query,
            full_url=full_url if isinstance(full_url, str) else None, url=url,
            location=f"{where}.resource", if_match=request.get("ifMatch"),
            if_none_match=request.get("ifNoneMatch"),
            if_modified_since=request.get("ifModifiedSince"))
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise bad(f"{method} entry has no resource", f"{where}.resource", code="required")
        check_type(rtype, f"{where}.request.url")
        if resource.get("resourceType") != rtype:
            raise bad(f"Entry resource is a {resource.get('resourceType')!r} but the request url "
                      f"names {rtype!r}", f"{where}.resource.resourceType")
        op.resource = resource
    if method == "POST":
        if rid is not None:
            raise bad("POST url must be the resource type only", f"{where}.request.url")
        ine = request.get("ifNoneExist")
        if ine:
            op.if_none_exist = parse_query(ine.split("?", 1)[1] if "?" in ine else ine)
        op.rid = new_id()
    elif method == "PUT":
        if rid is not None:
            check_id(rid, f"{where}.request.url")
            body_id = resource.get("id")
            if body_id is not None and body_id != rid:
                raise bad(f"Resource id {body_id!r} does not match the url id {rid!r}",
                          f"{where}.resource.id")
            op.query = None
        elif query is None:
            raise bad("PUT url needs an id or search criteria", f"{where}.request.url")
    elif method == "DELETE":
        check_type(rtype, f"{where}.request.url")
        if rid is None and query is None:
            raise bad("DELETE url needs an id or search criteria", f"{where}.request.url")
        if rid is not None:
            op.query = None
    elif method in ("GET", "HEAD"):
        if rtype is not None and not rtype.startswith("$") and not rtype.startswith("_"):
            check_type(rtype, f"{where}.request.url")
    return op


def _check_identities(ops: list[Op]) -> None:
    """A transaction may not name the same resource twice (R4 http.html#trules)."""
    seen_full: dict[str, int] = {}
    seen_ref: dict[str, int] = {}
    issues = []
    for op in ops:
        if op.full_url and op.method in ("POST", "PUT"):
            if op.full_url in seen_full:
                issues.append(error("invalid", f"fullUrl {op.full_url!r} appears in entries "
                                    f"{seen_full[op.full_url]} and {op.index}",
                                    f"Bundle.entry[{op.index}].fullUrl"))
            seen_full[op.full_url] = op.index
        if op.method in ("PUT", "DELETE") and op.rid and op.query is None:
            key = f"{op.rtype}/{op.rid}"
        elif op.method in ("PUT", "DELETE") and op.query is not None:
            key = f"{op.rtype}?{sorted(op.query)}"
        else:
            continue
        if key in seen_ref:
            issues.append(error("invalid", f"{key} is the target of entries {seen_ref[key]} and "
                                f"{op.index}; a transaction may touch a resource once",
                                f"Bundle.entry[{op.index}].request.url"))
        seen_ref[key] = op.index
    if issues:
        raise OperationOutcomeError(issues, 400)


def sort_for_processing(ops: list[Op]) -> list[Op]:
    return sorted(ops, key=lambda op: (ORDER.get(op.method, 9), op.index))


# -- reference rewriting --------------------------------------------------------------------
_HREF_RE = re.compile(r'(href|src)="([^"]+)"')


def rewrite_references(node, mapping: dict[str, str]) -> None:
    """Replace every `reference` (anywhere: extensions, contained) and narrative link whose
    value is a key of `mapping` (fullUrls of entries) by the final `Type/id`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                target = mapping.get(value)
                if target is not None:
                    node[key] = target
            elif key == "div" and isinstance(value, str) and ("urn:" in value or "://" in value):
                node[key] = _HREF_RE.sub(
                    lambda m: f'{m.group(1)}="{mapping.get(m.group(2), m.group(2))}"', value)
            elif isinstance(value, (dict, list)):
                rewrite_references(value, mapping)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                rewrite_references(item, mapping)


def iter_references(node):
    """Every `reference` string anywhere in a resource (extensions, contained included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            elif isinstance(value, (dict, list)):
                yield from iter_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_references(item)


def conditional_only(refs) -> set[str]:
    """The conditional references (`Type?query`) among `refs`."""
    return {r for r in refs if "?" in r and not r.startswith(("http:", "https:", "urn:"))}


def urn_only(refs) -> set[str]:
    """The `urn:uuid:` / `urn:oid:` identities among `refs`."""
    return {r for r in refs if r.startswith(("urn:uuid:", "urn:oid:"))}


def status_line(code: int) -> str:
    from http import HTTPStatus
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)
