"""The one error currency: Issue -> OperationOutcome, one exception type, one status mapping.

Every layer reports problems as `Issue` values. Services raise `OperationOutcomeError` (carrying
issues and, when the layer knows it, an HTTP status); the API turns it into an OperationOutcome
response. `status_for()` derives a status from the issues when none was given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

# Extension carrying the rule behind an issue (constraint key, profile URL, element id).
RULE_SOURCE_URL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"

SEVERITY_ORDER = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue.

    severity: fatal | error | warning | information
    code: an IssueType code (invalid, structure, required, value, invariant, not-found, ...)
    message: what a person reads (details.text)
    expression: FHIRPath locations, most specific first (e.g. "Observation.component[1].valueQuantity")
    diagnostics: extra technical detail (never a stack trace)
    source: the rule behind the issue (e.g. "ele-1", a profile URL + element id)
    """

    severity: str
    code: str
    message: str
    expression: tuple[str, ...] = ()
    diagnostics: str | None = None
    source: str | None = None
    details_coding: tuple[dict, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def to_fhir(self) -> dict:
        out: dict = {"severity": self.severity, "code": self.code}
        details: dict = {"text": self.message}
        if self.details_coding:
            details["coding"] = [dict(c) for c in self.details_coding]
        out["details"] = details
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        if self.source:
            out["extension"] = [{"url": RULE_SOURCE_URL, "valueString": self.source}]
        return out

    def prefixed(self, prefix: str, strip: str | None = None) -> "Issue":
        """The same issue located inside a container (e.g. a Bundle entry).

        `Patient.name` under prefix `Bundle.entry[3].resource` becomes
        `Bundle.entry[3].resource.name` (the resource type is replaced by the prefix).
        """
        def move(expr: str) -> str:
            head, dot, rest = expr.partition(".")
            if strip is not None and head == strip:
                return prefix + (dot + rest if dot else "")
            if strip is None and head[:1].isupper():
                return prefix + (dot + rest if dot else "")
            return prefix + "." + expr
        return Issue(self.severity, self.code, self.message,
                     tuple(move(e) for e in self.expression) or (prefix,),
                     self.diagnostics, self.source, self.details_coding)


def error(code: str, message: str, *expression: str, diagnostics: str | None = None,
          source: str | None = None) -> Issue:
    return Issue("error", code, message, tuple(e for e in expression if e), diagnostics, source)


def warning(code: str, message: str, *expression: str, diagnostics: str | None = None,
            source: str | None = None) -> Issue:
    return Issue("warning", code, message, tuple(e for e in expression if e), diagnostics, source)


def information(code: str, message: str, *expression: str, diagnostics: str | None = None,
                source: str | None = None) -> Issue:
    return Issue("information", code, message, tuple(e for e in expression if e), diagnostics,
                 source)


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.is_error for i in issues)


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    """Stable order: by severity, then location, then message."""
    return sorted(issues, key=lambda i: (SEVERITY_ORDER.get(i.severity, 9),
                                         i.expression, i.message))


def operation_outcome(issues: Sequence[Issue] | Iterable[Issue], ok_message: str | None = None
                      ) -> dict:
    issues = list(issues)
    if not issues:
        issues = [Issue("information", "informational", ok_message or "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


# IssueType -> HTTP status when the raising layer did not name one.
_STATUS_BY_CODE = {
    "not-found": 404,
    "deleted": 410,
    "conflict": 409,
    "duplicate": 409,
    "multiple-matches": 412,
    "not-supported": 400,
    "security": 403,
    "login": 401,
    "forbidden": 403,
    "too-costly": 413,
    "timeout": 504,
    "exception": 500,
    "transient": 503,
    "lock-error": 409,
    "structure": 400,
    "invalid": 400,
    "required": 422,
    "value": 422,
    "invariant": 422,
    "code-invalid": 422,
    "extension": 422,
    "business-rule": 422,
    "processing": 422,
}


def status_for(issues: Sequence[Issue]) -> int:
    """HTTP status for a set of issues: the status of the first error, 200 if there is none."""
    for issue in issues:
        if issue.is_error:
            return _STATUS_BY_CODE.get(issue.code, 400)
    return 200


class OperationOutcomeError(Exception):
    """The one exception type: a failed request, described by issues."""

    def __init__(self, issues: Issue | Sequence[Issue], status: int | None = None):
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        self.status = status if status is not None else status_for(self.issues)
        super().__init__("; ".join(i.message for i in self.issues))

    def outcome(self) -> dict:
        return operation_outcome(self.issues)


class GoneError(OperationOutcomeError):
    """A read of a deleted resource (410), with the delete's version and time (microseconds
    since the epoch) so each door can name them (the REST adapter as ETag / Last-Modified)."""

    def __init__(self, issues: Issue | Sequence[Issue], version: int,
                 last_updated: int | None = None):
        super().__init__(issues, 410)
        self.version = version
        self.last_updated = last_updated


def fail(status: int, code: str, message: str, *expression: str,
         diagnostics: str | None = None) -> OperationOutcomeError:
    """Build (not raise) an error: `raise fail(404, "not-found", "Patient/1 is not known")`."""
    return OperationOutcomeError(error(code, message, *expression, diagnostics=diagnostics), status)
