"""The CapabilityStatement, generated from what is really implemented.

The HTTP adapter passes its route table (the FHIR interactions and operations it routes); the
statement lists exactly those, the resource types the server accepts and the search parameters
the search engine answers.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

from .. import __version__
from ..resource_types import RESOURCE_TYPES


# operations defined on some resource types only (the others apply to every type)
OPERATION_TYPES = {"everything": ("Patient",), "export": ("Patient", "Group")}


class CapabilityService:
    def __init__(self, search_registry, sync, auth: str = "off", base_path: str = "/fhir"):
        self.search_registry = search_registry
        self._sync = sync
        self.auth = auth
        self.base_path = base_path

    def capabilities(self, ctx, interactions: Iterable[tuple[str, str]],
                     operations: Iterable[tuple[str, str, str]]) -> dict:
        """`interactions`: (code, level) pairs, level instance | type | system;
        `operations`: (name, level, OperationDefinition canonical[, the one resource type])."""
        self._sync()
        statement = capability_statement(ctx.base_url, list(dict.fromkeys(interactions)),
                                         list(dict.fromkeys(operations)), self.search_registry)
        if self.auth == "smart":
            from ..security.authserver import rest_security
            statement["rest"][0] = {"mode": "server",
                                    "security": rest_security(ctx.base_url, self.base_path),
                                    **{k: v for k, v in statement["rest"][0].items()
                                       if k != "mode"}}
        return statement


# Answered by the engine itself for every type (fhirsvc.search.text, fhirsvc.search.filter)
ENGINE_SEARCH_PARAMS = [
    {"name": "_text", "definition": "http://hl7.org/fhir/SearchParameter/DomainResource-text",
     "type": "string", "documentation": "Words of the narrative: all words, \"phrases\", OR"},
    {"name": "_content", "definition": "http://hl7.org/fhir/SearchParameter/Resource-content",
     "type": "string", "documentation": "Words of every text of the resource"},
    {"name": "_filter", "definition": "http://hl7.org/fhir/SearchParameter/filter",
     "type": "special", "documentation": "eq ne co sw ew gt lt ge le sa eb ap, and / or / "
     "not (...), parentheses, on this type's own parameters (no paths)"},
]
SEARCH_DOCUMENTATION = (
    "Search modifiers: tokens :not :text :of-type :missing :in :not-in (ValueSets the server "
    "holds, stored ones included) :below :above (is-a hierarchies of CodeSystems the server "
    "holds); strings :exact :contains; uris :below :above; references :[Type] :identifier. "
    "Chains of up to 4 levels (subject:Patient.organization.name), _has nested up to 4 levels, "
    "_text / _content full-text words, _filter (see its searchParam entry). Bundle.total: "
    "exact with _total=accurate, _summary=count or _count=0; otherwise (no _total, "
    "_total=estimate) exact up to the server's cap (1000 unless configured) and left out "
    "above it, with an informational OperationOutcome entry.")


def capability_statement(base_url: str, interactions: list[tuple[str, str]],
                         operations: list[tuple[str, str, str]], search_registry=None) -> dict:
    type_codes = [c for c, lvl in interactions if lvl in ("instance", "type")]
    system_codes = [c for c, lvl in interactions if lvl == "system"]
    codes = set(type_codes)
    resources = []
    for rtype in sorted(RESOURCE_TYPES):
        entry: dict = {
            "type": rtype,
            "interaction": [{"code": c} for c in type_codes],
            "versioning": "versioned-update",
            "readHistory": "vread" in codes,
            "updateCreate": "update" in codes,
            "conditionalCreate": "create" in codes,
            "conditionalRead": "full-support" if "read" in codes else "not-supported",
            "conditionalUpdate": "update" in codes,
            "conditionalDelete": "single" if "delete" in codes else "not-supported",
        }
        if search_registry is not None and "search-type" in codes:
            params = {code: p for code, p in search_registry.params_for(rtype).items()
                      if code in ("_id", "_lastUpdated")  # answered from resource rows
                      or search_registry.compiled_param(rtype, code) is not None}
            if params:
                entry["searchParam"] = [
                    {"name": code, "definition": p.url, "type": p.type}
                    for code, p in sorted(params.items())] + ENGINE_SEARCH_PARAMS
                refs = sorted(code for code, p in params.items() if p.type == "reference")
                if refs:
                    entry["searchInclude"] = ["*"] + [f"{rtype}:{c}" for c in refs]
                    entry["searchRevInclude"] = ["*"]
        # an operation routed for one type only (Patient/$everything) is listed on that type
        ops = [o for o in operations if o[1] in ("type", "instance")
               and (o[3] if len(o) > 3 else None) in (None, rtype)
               and rtype in OPERATION_TYPES.get(o[0], (rtype,))]
        if ops:
            entry["operation"] = [{"name": n, "definition": d}
                                  for n, d in dict.fromkeys((o[0], o[2]) for o in ops)]
        resources.append(entry)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now,
        "publisher": "fhirsvc",
        "kind": "instance",
        "software": {"name": "fhirsvc", "version": __version__},
        "implementation": {"description": "fhirsvc FHIR R4 server for calcinosis in systemic "
                           "sclerosis", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        "rest": [{
            "mode": "server",
            "documentation": SEARCH_DOCUMENTATION,
            "resource": resources,
            "interaction": [{"code": c} for c in system_codes],
            "operation": [{"name": n, "definition": d} for n, d in dict.fromkeys(
                (o[0], o[2]) for o in operations if o[1] == "system")],
        }],
    }
