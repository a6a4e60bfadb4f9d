"""Interim structural check with the fhir.resources R4B models (pydantic)."""
from __future__ import annotations

from functools import lru_cache

from ..outcomes import Issue, error


@lru_cache(maxsize=None)
def _model(resource_type: str):
    from fhir.resources.R4B import get_fhir_model_class
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return None


def _fhirpath(resource_type: str, loc: tuple) -> str:
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("__root__",) or "[" in str(part) or "function-" in str(part):
            continue
        else:
            out += "." + str(part).removesuffix("__ext")
    return out


def structural_issues(resource: dict) -> list[Issue]:
    rtype = resource.get("resourceType")
    model = _model(rtype) if isinstance(rtype, str) else None
    if model is None:
        return [error("structure", f"Unknown resourceType {rtype!r}", "resourceType" if rtype is None
                      else str(rtype))]
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic.ValidationError; other errors reported the same way
        errors = getattr(exc, "errors", None)
        if not callable(errors):
            return [error("structure", f"Invalid {rtype}: {exc}", rtype)]
        issues = []
        for e in errors():
            loc = tuple(p for p in e.get("loc", ()) if p != "resourceType" or len(e["loc"]) > 1)
            where = _fhirpath(rtype, loc)
            kind = "structure" if e.get("type") == "extra_forbidden" else "value"
            msg = ("Unknown element" if e.get("type") == "extra_forbidden" else e.get("msg", "invalid"))
            issues.append(error(kind, f"{msg} at {where}", where))
        return issues
    return []
