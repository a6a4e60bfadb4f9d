"""Job kinds: a name and a handler, registered in a `Kinds` registry the worker claims from.

    class Export(JobKind):
        name = "export"
        result_ttl = 3600                    # files (and the job row) expire an hour after
        def parameters(self, params): ...    # checked when enqueued (ValueError -> 400)
        def run(self, job, ctx): ...         # -> JSON-able result
        def cleanup(self, job, runtime): ... # delete the files; idempotent

A worker only claims kinds its registry knows, so a worker of an older version never takes a
job it cannot run.
"""
from __future__ import annotations

from typing import Iterator


class JobKind:
    name: str = ""
    max_attempts: int = 3          # claims before a failing job stays failed
    retry_backoff: float = 10.0    # seconds before the second attempt; doubles after each
    result_ttl: float | None = None  # seconds after finishing until cleanup() and deletion

    def parameters(self, params: dict) -> dict:
        """Check and normalise parameters when the job is enqueued; raise ValueError with a
        message a person can act on."""
        return dict(params)

    def run(self, job, ctx):
        """Do the work; see fhirsvc/jobs/context.py for the calls `ctx` offers. Returns the
        result (JSON-able). May run again after a crash or a failure: resume from
        `ctx.cursor`."""
        raise NotImplementedError

    def cleanup(self, job, runtime) -> None:
        """Remove what the job left outside the database once it expires (result_ttl).
        Idempotent: a crash mid-way repeats it."""

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait before the next attempt after `attempts` failed ones."""
        return self.retry_backoff * 2 ** max(0, attempts - 1)


class Kinds:
    def __init__(self, *kinds: JobKind):
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: JobKind) -> JobKind:
        if not kind.name or kind.name in self._kinds:
            raise ValueError(f"job kind name {kind.name!r} is empty or already registered")
        self._kinds[kind.name] = kind
        return kind

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise ValueError(f"unknown job kind {name!r} (known: {', '.join(self.names())})"
                             ) from None

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, name: str) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())


def builtin_kinds() -> Kinds:
    """The kinds this version of fhirsvc runs (bulk export and remote pull will join)."""
    from .bulk_export import BulkExport
    from .registry_export import RegistryExport
    from .reindex import Reindex
    from .remote import RemotePull, RemotePush
    return Kinds(Reindex(), BulkExport(), RegistryExport(), RemotePull(), RemotePush())
