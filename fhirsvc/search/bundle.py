"""Searchset Bundles from stored rows: entries, paging links, the outcome of ignored parameters.

Pure: takes the parsed query and `Stored` versions, returns the Bundle dict.
"""
from __future__ import annotations

from urllib.parse import urlencode

from .. import jsontext

from ..outcomes import operation_outcome
from ..summary import select_elements, summarise
from .criteria import EverythingQuery, SearchQuery


def url(path: str, params) -> str:
    qs = urlencode(list(params), safe=":|,/$*")
    return path + ("?" + qs if qs else "")


def page_url(path: str, query: SearchQuery, offset: int) -> str:
    params = [(k, v) for k, v in query.link_params if k not in ("_count", "_offset")]
    params.append(("_count", str(query.count)))
    if offset:
        params.append(("_offset", str(offset)))
    return url(path, params)


def _shape(s, query: SearchQuery) -> dict:
    # the same reduction as read: summary elements from the R4 definitions, mandatory
    # elements kept, choice types matched, SUBSETTED tag (fhirsvc.summary)
    res = jsontext.loads(s.content)
    if query.summary not in (None, "count"):
        res = summarise(res, query.summary)
    if query.elements:
        res = select_elements(res, ",".join(query.elements))
    return res


def _entry(base_url: str, s, resource: dict, mode: str) -> dict:
    return {"fullUrl": f"{base_url}/{s.resource_type}/{s.resource_id}", "resource": resource,
            "search": {"mode": mode}}


def _add_outcome(bundle: dict, query: SearchQuery, notes: tuple = ()) -> None:
    """One outcome entry first: the parser's warnings, then what running the search noted
    (a total left out)."""
    issues = tuple(query.issues) + tuple(notes)
    if issues:
        bundle.setdefault("entry", []).insert(0, {
            "resource": operation_outcome(issues), "search": {"mode": "outcome"}})


def count_only(path: str, query: SearchQuery, total: int) -> dict:
    """_summary=count or _count=0: the total and the self link."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total,
              "link": [{"relation": "self", "url": url(path, query.link_params)}]}
    _add_outcome(bundle, query)
    return bundle


def searchset(path: str, base_url: str, query: SearchQuery, total: int | None,
              matches: list, included: list, has_next: bool, notes: tuple = ()) -> dict:
    entries = [_entry(base_url, s, _shape(s, query), "match") for s in matches]
    entries.extend(_entry(base_url, s, jsontext.loads(s.content), "include") for s in included)
    links = [{"relation": "self", "url": page_url(path, query, query.offset)}]
    if has_next:
        links.append({"relation": "next",
                      "url": page_url(path, query, query.offset + query.count)})
    if query.offset > 0:
        links.append({"relation": "previous",
                      "url": page_url(path, query, max(0, query.offset - query.count))})
    bundle = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries
    _add_outcome(bundle, query, notes)
    return bundle


def everything(base_url: str, query: EverythingQuery, total: int, page: list,
               referenced: set[int]) -> dict:
    """Patient/$everything: the compartment as matches, what it refers to as includes."""
    entries = [_entry(base_url, s, jsontext.loads(s.content),
                      "include" if s.pk in referenced else "match") for s in page]
    path = f"{base_url}/Patient/{query.patient_id}/$everything"
    count, offset = query.count, query.offset

    def link(off: int) -> str:
        ps = [(k, v) for k, v in query.link_params if k != "_count"] + [("_count", str(count))]
        if off:
            ps.append(("_offset", str(off)))
        return url(path, ps)
    links = [{"relation": "self", "url": link(offset)}]
    if count and offset + count < total:   # _count=0 is the total alone: no next to itself
        links.append({"relation": "next", "url": link(offset + count)})
    if offset > 0:
        links.append({"relation": "previous", "url": link(max(0, offset - count))})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
            "entry": entries}
