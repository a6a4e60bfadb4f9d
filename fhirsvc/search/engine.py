"""SearchEngine: parse a search request, run it through storage, build the searchset Bundle.

    engine = SearchEngine(registry, default_count=20, max_count=1000)
    engine.search(uow, "Observation", [("code", "http://loinc.org|8302-2")],
                  base_url="https://x/fhir") -> Bundle dict
    engine.match(uow, "Patient", [("identifier", "sys|1")]) -> [Stored]   (conditional ops)
    engine.everything(uow, "123", params, base_url) -> Bundle dict         (Patient/$everything)

No SQL here: `uow.search` (fhirsvc.storage.search_repository) runs the parsed criteria and
returns primary keys; `uow.resources.read_many` the stored versions.
"""
from __future__ import annotations

from ..outcomes import fail, information
from . import bundle as bundles
from . import criteria as c
from .criteria import SearchQuery
from .limits import SearchLimits, check_params
from .parse import SearchParser
from .registry import SearchRegistry

MAX_INCLUDE_ROUNDS = 4


class SearchEngine:
    def __init__(self, registry: SearchRegistry, default_count: int = 20,
                 max_count: int = 1000, terminology=None, limits: SearchLimits | None = None):
        self.registry = registry
        # terminology: ValueSet expansions and code systems (definitions.Registry) for :in,
        # :not-in, :below and :above on tokens; without it those modifiers are a 400
        self.parser = SearchParser(registry, default_count, max_count, terminology)
        self.limits = limits or SearchLimits()

    def search(self, uow, resource_type: str | None, params: list[tuple[str, str]], *,
               base_url: str, strict: bool = False,
               compartment: tuple[str, str] | None = None, admit=None) -> dict:
        """`admit(uow, stored_list) -> stored_list`: what of the _include / _revinclude
        results the caller may see (fhirsvc.security.Guard.admit); None keeps them all."""
        base_url = base_url.rstrip("/")
        check_params(params, self.limits)
        query = self.parser.parse(resource_type, params, base_url=base_url, strict=strict,
                                  compartment=compartment)
        page = uow.search.find(query.criteria, sort=query.sort,
                               limit=query.count if query.needs_entries else 0,
                               offset=query.offset, with_total=query.needs_total,
                               total_cap=None if query.exact_total else self.limits.total_cap)
        path = base_url + (f"/{compartment[0]}/{compartment[1]}" if compartment else "") \
            + (f"/{resource_type}" if resource_type else "")
        if not query.needs_entries:
            return bundles.count_only(path, query, page.total)
        notes = ()
        if page.total_over is not None:
            notes = (information("informational", f"More than {page.total_over} resources "
                                 "match: Bundle.total is left out (counting every match costs "
                                 "time in proportion to their number); ask _total=accurate "
                                 "for the exact count", "_total"),)
        stored = uow.resources.read_many(page.pks)
        matches = [stored[pk] for pk in page.pks if pk in stored]
        included = self._include(uow, matches, query, admit) \
            if (query.includes or query.revincludes) else []
        return bundles.searchset(path, base_url, query, page.total, matches, included,
                                 page.has_next, notes)

    def _include(self, uow, matches: list, query: SearchQuery, admit=None) -> list:
        """_include / _revinclude rounds (`:iterate` follows what the last round added). Each
        round is admitted before the next follows it: an iteration must not go on from a
        resource the caller may not see (it would bring what that one refers to)."""
        seen = {s.pk for s in matches}
        out: list = []
        current = matches
        first = True
        iterating = any(s.iterate for s in query.includes + query.revincludes)
        for _round in range(min(MAX_INCLUDE_ROUNDS, self.limits.max_include_rounds)):
            inc = [s for s in query.includes if first or s.iterate]
            rev = [s for s in query.revincludes if first or s.iterate]
            if not (inc or rev) or not current:
                break
            pks: set[int] = set()
            for spec in inc:
                pks |= uow.search.include_targets(current, spec)
            for spec in rev:
                pks |= uow.search.revinclude_sources(current, spec)
            new = sorted(pks - seen)
            if not new:
                break
            if len(out) + len(new) > self.limits.max_include_results:
                raise fail(400, "too-costly", f"_include / _revinclude would add more than "
                           f"{self.limits.max_include_results} resources to one page; lower "
                           "_count or include less")
            seen.update(new)
            got = uow.resources.read_many(new)
            current = [got[pk] for pk in new if pk in got and not got[pk].deleted]
            if admit is not None and current:
                current = admit(uow, current)
            out.extend(current)
            first = False
            if not iterating:
                break
        return out

    def match(self, uow, resource_type: str, params: list[tuple[str, str]]) -> list:
        """Every current resource matching a conditional-operation query (strict). An
        identifier query takes match_many's one-statement path."""
        return self.match_many(uow, [(resource_type, params)])[0]

    def match_searched(self, uow, resource_type: str, params: list[tuple[str, str]]) -> list:
        """`match` through the general search plan, whatever the query (what match_many's
        token path must agree with)."""
        check_params(params, self.limits)
        pks = uow.search.match(self.parser.criteria(resource_type, params))
        got = uow.resources.read_many(pks)
        return [got[pk] for pk in pks if pk in got]

    def match_many(self, uow, queries: list[tuple[str, list[tuple[str, str]]]]) -> list[list]:
        """`match` for many conditional queries at once, answers in the same order (a
        transaction's conditional entries). The queries that are one token condition on
        system|code values (identifiers, the usual case) are answered together by one
        statement; any other query runs as `match` does."""
        criteria = []
        for rtype, params in queries:
            check_params(params, self.limits)
            criteria.append(self.parser.criteria(rtype, params))
        keyed = [_token_keys(cr) for cr in criteria]
        wanted = [k for keys in keyed if keys is not None for k in keys]
        found = uow.search.match_tokens(wanted) if wanted else {}
        pks_of: list[list[int]] = []
        for cr, keys in zip(criteria, keyed):
            if keys is None:
                pks_of.append(uow.search.match(cr))
            elif len(keys) == 1:
                pks_of.append(found[keys[0]])
            else:
                pks_of.append(sorted({pk for k in keys for pk in found[k]}))
        got = uow.resources.read_many(sorted({pk for pks in pks_of for pk in pks}))
        return [[got[pk] for pk in pks if pk in got] for pks in pks_of]

    def everything(self, uow, patient_id: str, params: list[tuple[str, str]], base_url: str,
                   admit=None) -> dict:
        """Patient/$everything: the patient, its compartment, and what those refer to."""
        base_url = base_url.rstrip("/")
        check_params(params, self.limits)
        query = self.parser.everything(patient_id, params)
        patient = uow.resources.read("Patient", patient_id)
        if patient is None or patient.deleted:
            raise fail(404, "not-found", f"Patient/{patient_id} is not known")
        definition = self.registry.compartments.get("Patient", {})
        members = uow.search.compartment_members("Patient", patient_id, definition)
        members.discard(patient.pk)
        # resources referenced from the compartment (practitioners, organizations, ...)
        referenced = uow.search.referenced_by(sorted(members | {patient.pk}))
        referenced -= members | {patient.pk}
        # ... but not another patient's record (a mixed Provenance's targets, a Group's members)
        referenced -= uow.search.in_other_compartments(sorted(referenced), "Patient",
                                                       patient_id, definition)
        ordered = [patient.pk] + sorted(members) + sorted(referenced)
        if query.types is not None or query.since is not None:
            keep = uow.search.restrict(ordered, query.types, query.since)
            ordered = [pk for pk in ordered if pk in keep]
        if admit is not None:
            # total and links count what the caller receives: admit every candidate before
            # paging (admitting the page alone counted other patients' resources and types
            # outside the scopes, and left pages short); the page comes from that one read
            ordered, page = self._admitted(uow, ordered, admit, query.offset, query.count)
        else:
            page_pks = ordered[query.offset:query.offset + query.count]
            got = uow.resources.read_many(page_pks)
            page = [got[pk] for pk in page_pks if pk in got and not got[pk].deleted]
        return bundles.everything(base_url, query, len(ordered), page, referenced)

    @staticmethod
    def _admitted(uow, pks: list[int], admit, offset: int, count: int,
                  chunk: int = 500) -> tuple[list[int], list]:
        """Those of `pks` (in order) that are current and that `admit` lets through, and the
        admitted resources at positions [offset, offset + count) among them (the page)."""
        out: list[int] = []
        page: list = []
        for start in range(0, len(pks), chunk):
            part = pks[start:start + chunk]
            got = uow.resources.read_many(part)
            kept = {s.pk: s for s in admit(uow, [got[pk] for pk in part
                                                 if pk in got and not got[pk].deleted])}
            for pk in part:
                if pk in kept:
                    if offset <= len(out) < offset + count:
                        page.append(kept[pk])
                    out.append(pk)
        return out, page


def _token_keys(cr) -> list[tuple] | None:
    """(type, param, system, code, or_no_system) of each value when `cr` is exactly one token condition on
    codes (with or without a system, no modifier), else None."""
    if cr.rtype is None or len(cr.clauses) != 1:
        return None
    cl = cr.clauses[0]
    if not isinstance(cl, c.ParamClause) or cl.kind != "token" or cl.negate \
            or cl.modifier is not None or cl.rtype != cr.rtype:
        return None
    keys = []
    for v in cl.values:
        if not isinstance(v, c.TokenMatch) or v.code is None:
            return None
        keys.append((cl.rtype, cl.param, v.system, v.code, v.or_no_system))
    return keys


__all__ = ["SearchEngine"]
