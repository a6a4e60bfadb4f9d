"""Rules of particular types (value scope): Narrative content and Bundle entries."""
from __future__ import annotations

import re

from ..run import issue
from .references import ABS_URL


def narrative(value, element, type_code, location, run):
    """Narrative.div carries no script (the xhtml rules the walker can see)."""
    div = value.get("div") if value.__class__ is dict else None
    if isinstance(div, str) and "<script" in div.lower():
        return (issue("error", "invalid", "The narrative contains a script element",
                      f"{location}.div"),)
    return ()


def bundle(value, element, type_code, location, run):
    """Bundle.entry.fullUrl is absolute, agrees with the resource id, and is unique (outside
    history bundles, unless versions differ)."""
    if value.__class__ is not dict:
        return ()
    out = []
    seen: dict[str, int] = {}
    btype = value.get("type")
    entries = value.get("entry")
    for i, e in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(e, dict):
            continue
        full = e.get("fullUrl")
        if not isinstance(full, str):
            continue
        where = f"{location}.entry[{i}]"
        if not ABS_URL.match(full):
            out.append(issue("error", "invalid",
                             f"The fullUrl must be an absolute URL (not '{full}')", where))
        res = e.get("resource")
        if isinstance(res, dict) and isinstance(res.get("id"), str) and \
                _RESTFUL.match(full) and \
                not full.endswith(f"/{res.get('resourceType')}/{res['id']}"):
            out.append(issue("error", "invalid",
                             f"The fullUrl '{full}' does not match the resource id "
                             f"'{res.get('resourceType')}/{res['id']}'", where))
        if btype != "history" and full in seen:
            vid = None
            if isinstance(res, dict) and isinstance(res.get("meta"), dict):
                vid = res["meta"].get("versionId")
            if vid is None:
                out.append(issue("error", "duplicate",
                                 f"Duplicate fullUrl '{full}' (also in entry {seen[full]})",
                                 where))
        seen.setdefault(full, i)
    out += _links(value.get("link"), location)
    if btype == "searchset":
        out += _search_entries(value, entries, location)
    return out


# a RESTful fullUrl ends in Type/id (optionally /_history/n): only then must it name the
# resource's id (a fullUrl such as http://example/x is just an identity)
_RESTFUL = re.compile(r"^https?://.+/[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[^/]+)?$")
# link relations a Bundle has at most once (RFC 8288 paging and self; R4 http.html#paging)
_ONCE = ("self", "first", "previous", "prev", "next", "last")


def _links(links, location):
    out, seen = [], set()
    for i, link in enumerate(links if isinstance(links, list) else ()):
        rel = link.get("relation") if isinstance(link, dict) else None
        if rel in _ONCE:
            if rel in seen:
                out.append(issue("error", "invalid", f"The link relationship type '{rel}' can "
                                 "only occur once", f"{location}.link[{i}]"))
            seen.add(rel)
    return out


def _search_types(bundle) -> list[str] | None:
    """The resource types the search of a searchset asked for (from its self link)."""
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "self" and \
                isinstance(link.get("url"), str):
            path, _, query = link["url"].partition("?")
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if last[:1].isupper() and last.isalpha():
                return [last]
            for part in query.split("&"):
                k, _, v = part.partition("=")
                if k == "_type" and v:
                    return v.split(",")
            return None
    return None


def _search_entries(bundle, entries, location):
    """Search results carry ids and are of the types searched for; outcome entries are
    OperationOutcomes (R4 bundle.html#searchset)."""
    out = []
    types = _search_types(bundle)
    for i, e in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            continue
        res = e["resource"]
        where = f"{location}.entry[{i}].resource"
        mode = (e.get("search") or {}).get("mode") if isinstance(e.get("search"), dict) else None
        rt = res.get("resourceType")
        if mode == "outcome":
            if rt != "OperationOutcome":
                out.append(issue("error", "invalid", f"This is not an OperationOutcome ({rt})",
                                 where))
            continue
        if mode == "match":
            if not isinstance(res.get("id"), str):
                out.append(issue("error", "invalid", "Search results must have ids", where))
            if types and rt not in types:
                out.append(issue("error", "invalid", f"This is not a matching resource type for "
                                 f"the specified search ({rt} expecting {types})", where))
    return out
