"""Validation seam: `Validator.validate(resource, profiles, *, strict=False) -> list[Issue]`.

Every write goes through `Validator.validate` before anything is stored. The validator is
profile-aware and driven by the official R4 definitions (fhirsvc.definitions): structure and
primitive formats, cardinality, fixed/pattern values, min/max, bindings, code systems,
invariants, slicing, extensions, references, profiles (meta.profile, the guide's global
profiles, in strict runs the guide's profile for the type, the core vital-signs profiles
applied implicitly). Design: docs/validation.md (walker, rule table, native invariants,
registry generations).

Library use:
    from fhirsvc.validation import validate
    outcome = validate(resource_dict_or_json_bytes, profiles=["http://..."])  # OperationOutcome

A Bundle is validated whole (entries, fullUrl rules, references resolved inside the bundle);
issues inside entries are located as `Bundle.entry[3].resource.name`.
"""
from __future__ import annotations

import threading
from typing import Sequence

from ..definitions.registry import default_registry
from ..outcomes import Issue, error, operation_outcome, sort_issues
from . import walker
from .definitions import Definitions
from .parse import parse_input, parse_json
from .run import Options, Run


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen, out = set(), []
    for i in issues:
        k = (i.severity, i.code, i.expression, i.message)
        if k in seen:
            continue
        seen.add(k)
        out.append(i)
    return out


def _without_comments(raw):
    """(resource, comment positions) when the text is JSON once its comments are blanked."""
    from .jsonc import strip_comments
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
    if "/" not in text:
        return None
    stripped, where = strip_comments(text)
    if not where:
        return None
    resource, issues = parse_json(stripped)
    return (resource, where) if resource is not None else None


def _with_commas_repaired(raw):
    """(resource, an error per repair) when the text is JSON once its commas are repaired
    (jsonc.repair_commas), else None: the rest is still validated, as the reference does."""
    from .jsonc import repair_commas
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
    if text.lstrip()[:1] != "{":
        return None
    repaired, fixes = repair_commas(text)
    if not fixes:
        return None
    resource, issues = parse_json(repaired)
    if resource is None:
        return None
    return resource, [Issue("error", "structure", f"{msg} (line {ln}, column {col})", (),
                            f"line {ln}, column {col}") for msg, ln, col in fixes]


class Validator:
    """Validates resources against R4 and profiles with one registry; reused, thread-safe.

    Each validation reads one registry generation (`registry.state`), so conformance
    resources added meanwhile by other threads apply from the next validation on."""

    def __init__(self, registry=None, *, unknown_extensions: str = "error",
                 validate_contains: str = "CHECK_VALID", validate_reference: str = "IGNORE",
                 kept_verdicts: bool = True):
        """unknown_extensions: the severity of an extension whose definition cannot be found
        (outside the example and HL7 spaces): "error" as the reference validator, or
        "warning" to accept them (the server's write gate, FHIRSVC_UNKNOWN_EXTENSIONS).
        validate_contains / validate_reference: the reference validator's settings of the
        same names (run.Options).
        kept_verdicts: a clean complex value met again is not walked again (walker, "kept
        verdicts" in docs/validation.md); False walks every value (the tests compare both)."""
        if unknown_extensions not in ("error", "warning"):
            raise ValueError("unknown_extensions must be 'error' or 'warning'")
        self.registry = registry if registry is not None else default_registry()
        self.unknown_extensions = unknown_extensions
        self.options = Options(validate_contains, validate_reference)
        self.kept_verdicts = kept_verdicts

    def validate(self, resource: dict, profiles: Sequence[str] = (), *,
                 strict: bool = False) -> list[Issue]:
        """Issues for one resource; expressions start at its resourceType. Stable order.

        strict: the guide's profiles are required for the types it profiles, and an unknown
        profile is an error (not a warning)."""
        if not isinstance(resource, dict):
            return [error("structure", "A resource must be a JSON object")]
        state = self.registry.state
        run = Run(state, Definitions.of(state), strict)
        run.unknown_extensions = self.unknown_extensions
        run.options, run.top = self.options, resource
        if self.kept_verdicts:
            run.kept = run.defs.kept(state, (strict, self.unknown_extensions,
                                             self.options.validate_contains,
                                             self.options.validate_reference))
        return sort_issues(_dedupe(walker.validate(resource, tuple(profiles), run)))

    def validate_bytes(self, raw: bytes | str, profiles: Sequence[str] = (), *,
                       strict: bool = False, allow_comments: bool = False) -> list[Issue]:
        """JSON or FHIR XML text in: syntax errors (with line and column) are fatal issues.
        JSON comments are an error each (the rest is still validated), none with
        allow_comments."""
        resource, issues = parse_input(raw, self.registry.state)
        if resource is None:
            uncommented = _without_comments(raw)
            if uncommented is None:
                repaired = _with_commas_repaired(raw)
                if repaired is None:
                    return issues
                resource, fixes = repaired
                return fixes + self.validate(resource, profiles, strict=strict)
            resource, where = uncommented
            issues = [] if allow_comments else [
                Issue("error", "structure", f"Comments are not allowed in JSON (line {ln}, "
                      f"column {col})", (), f"line {ln}, column {col}") for ln, col in where]
        return issues + self.validate(resource, profiles, strict=strict)

    def outcome(self, resource: dict | bytes | str, profiles: Sequence[str] = (), *,
                strict: bool = False) -> dict:
        if isinstance(resource, (bytes, bytearray, str)):
            issues = self.validate_bytes(resource, profiles, strict=strict)
        else:
            issues = self.validate(resource, profiles, strict=strict)
        return operation_outcome(issues, "No issues detected during validation")


_default: Validator | None = None
_default_lock = threading.Lock()


def default_validator() -> Validator:
    """The validator of the process-wide registry (R4 core + the project's guide)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Validator()
    return _default


def validate(resource: dict | bytes | str, profiles: Sequence[str] = (), *,
             strict: bool = False) -> dict:
    """OperationOutcome for a resource (dict or JSON bytes), with the process-wide registry."""
    return default_validator().outcome(resource, profiles, strict=strict)


__all__ = ["Validator", "validate", "default_validator"]
