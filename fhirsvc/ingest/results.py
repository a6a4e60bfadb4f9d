"""Typed results of the ingestion pipeline: what happened to each operation.

Doors turn them into their own answer: the REST adapter into HTTP status and headers, a
transaction into its response Bundle, a converter into an HL7 ACK. `Outcome.status` is the
FHIR status code of `Bundle.entry.response.status` for that outcome.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from ..outcomes import Issue, OperationOutcomeError
from ..storage import Stored


class Outcome(Enum):
    CREATED = ("created", 201)
    UPDATED = ("updated", 200)
    MATCHED = ("matched", 200)            # conditional create found its resource
    UNCHANGED = ("unchanged", 200)        # an update equal to the current version: not stored
    DELETED = ("deleted", 200)
    NOTHING_DELETED = ("nothing-deleted", 204)   # unknown, gone already, or no match
    READ = ("read", 200)
    NOT_MODIFIED = ("not-modified", 304)
    SEARCHED = ("searched", 200)
    FAILED = ("failed", 0)                # status from the error

    @property
    def status(self) -> int:
        return self.value[1]


@dataclass(frozen=True)
class EntryResult:
    index: int
    outcome: Outcome
    stored: Stored | None = None
    issues: tuple[Issue, ...] = ()
    body: dict | None = None              # a searchset Bundle (GET search entries)
    error: OperationOutcomeError | None = None

    @property
    def status(self) -> int:
        if self.outcome is Outcome.FAILED and self.error is not None:
            return self.error.status
        return self.outcome.status

    def with_issues(self, issues) -> "EntryResult":
        return replace(self, issues=tuple(issues) + self.issues)

    @classmethod
    def failed(cls, index: int, exc: OperationOutcomeError) -> "EntryResult":
        # without its traceback: its frames would keep the failed entry's work (a whole
        # search Bundle, say) alive for as long as the batch response
        return cls(index, Outcome.FAILED, issues=tuple(exc.issues),
                   error=exc.with_traceback(None))


@dataclass(frozen=True)
class IngestResult:
    kind: str                              # single | transaction | batch
    entries: tuple[EntryResult, ...]
    provenance: Stored | None = None       # the Provenance written with a converter's ingest
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def single(self) -> EntryResult:
        return self.entries[0]
