"""The CapabilityStatement, generated from what the API really registers.

View functions declare their FHIR interactions with `@interaction(...)`; the statement lists
exactly those, the resource types the server accepts, the search parameters the search engine
knows and the operations that are routed.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..resource_types import RESOURCE_TYPES

# (code, level) pairs; level is "instance", "type" or "system"
INTERACTIONS: list[tuple[str, str]] = []
OPERATIONS: list[tuple[str, str, str]] = []  # (name, level, definition canonical)


def interaction(code: str, level: str):
    def mark(fn):
        if (code, level) not in INTERACTIONS:
            INTERACTIONS.append((code, level))
        return fn
    return mark


def operation(name: str, level: str, definition: str):
    def mark(fn):
        if (name, level, definition) not in OPERATIONS:
            OPERATIONS.append((name, level, definition))
        return fn
    return mark


def capability_statement(base_url: str, search_registry=None, version: str = "0.1.0") -> dict:
    type_codes = [c for c, lvl in INTERACTIONS if lvl in ("instance", "type")]
    system_codes = [c for c, lvl in INTERACTIONS if lvl == "system"]
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
                    for code, p in sorted(params.items())]
                refs = sorted(code for code, p in params.items() if p.type == "reference")
                if refs:
                    entry["searchInclude"] = ["*"] + [f"{rtype}:{c}" for c in refs]
                    entry["searchRevInclude"] = ["*"]
        ops = [o for o in OPERATIONS if o[1] in ("type", "instance")
               and (o[0] != "everything" or rtype == "Patient")]
        if ops:
            entry["operation"] = [{"name": n, "definition": d} for n, _, d in ops]
        resources.append(entry)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now,
        "publisher": "fhirsvc",
        "kind": "instance",
        "software": {"name": "fhirsvc", "version": version},
        "implementation": {"description": "fhirsvc FHIR R4 server for calcinosis in systemic "
                           "sclerosis", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": c} for c in system_codes],
            "operation": [{"name": n, "definition": d} for n, lvl, d in OPERATIONS
                          if lvl == "system"],
        }],
    }
