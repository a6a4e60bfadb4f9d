"""Validation seam: `Validator.validate(resource, profiles) -> list[Issue]`.

Every write goes through `Validator.validate` before anything is stored. The validator is
profile-aware and driven by the official R4 definitions (fhirsvc.definitions): structure and
primitive formats, cardinality, fixed/pattern values, min/max, bindings, code systems,
FHIRPath invariants, slicing, extensions, references, profiles (meta.profile, the guide's
global/strict profiles, the core vital-signs profiles applied implicitly).

Library use:
    from fhirsvc.validation import validate
    outcome = validate(resource_dict_or_json_bytes, profiles=["http://..."])  # OperationOutcome

A Bundle is validated whole (entries, fullUrl rules, references resolved inside the bundle);
issues inside entries are located as `Bundle.entry[3].resource.name`.
"""
from __future__ import annotations

from typing import Sequence

from ..outcomes import Issue, error, operation_outcome, sort_issues
from .engine import Engine
from .parse import parse_json


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen, out = set(), []
    for i in issues:
        k = (i.severity, i.code, i.expression, i.message)
        if k in seen:
            continue
        seen.add(k)
        out.append(i)
    return out


class Validator:
    """Validates resources against R4 and profiles; one per configuration, reused."""

    def __init__(self, strict_profiles: bool = False, registry=None):
        if registry is None:
            from ..definitions.registry import default_registry
            registry = default_registry()
        self.strict_profiles = strict_profiles
        self.registry = registry
        self.engine = Engine.for_registry(registry)

    def validate(self, resource: dict, profiles: Sequence[str] = (), *,
                 strict: bool | None = None) -> list[Issue]:
        """Issues for one resource; expressions start at its resourceType. Stable order.
        `strict`: the guide's profiles are required for the types it profiles (per call)."""
        if not isinstance(resource, dict):
            return [error("structure", "A resource must be a JSON object")]
        strict = self.strict_profiles if strict is None else strict
        issues = self.engine.validate(resource, tuple(profiles), strict=strict)
        return sort_issues(_dedupe(issues))

    def validate_bytes(self, raw: bytes | str, profiles: Sequence[str] = ()) -> list[Issue]:
        """JSON text in: syntax errors (with line and column) are fatal issues."""
        resource, issues = parse_json(raw)
        if resource is None:
            return issues
        return self.validate(resource, profiles)

    def outcome(self, resource: dict | bytes | str, profiles: Sequence[str] = ()) -> dict:
        if isinstance(resource, (bytes, bytearray, str)):
            issues = self.validate_bytes(resource, profiles)
        else:
            issues = self.validate(resource, profiles)
        return operation_outcome(issues, "No issues detected during validation")


_default: Validator | None = None


def default_validator() -> Validator:
    global _default
    if _default is None:
        _default = Validator()
    return _default


def validate(resource: dict | bytes | str, profiles: Sequence[str] = ()) -> dict:
    """OperationOutcome for a resource (dict or JSON bytes), with the process-wide registry."""
    return default_validator().outcome(resource, profiles)


__all__ = ["Validator", "validate", "default_validator"]
