"""Bulk Data export (Bulk Data IG 3.0.0): kick-off, status, cancel, files, and the list of
export jobs for the web pages.

    kick = services.export.kickoff(ctx, "group", "g1", pairs, request_url=url)
    kick.poll_id, kick.status_url                     # 202 Content-Location
    st = services.export.status(ctx, kick.poll_id)    # running (progress) | done (manifest)
    services.export.open_file(ctx, kick.poll_id, "Patient.ndjson").chunks
    services.export.cancel(ctx, kick.poll_id)
    services.export.jobs(ctx)                         # ExportJobSummary rows (the UI)

The work is a `bulk-export` job (fhirsvc/jobs/bulk_export.py) that any worker runs. A poll id
is the job id and a random secret, so status and file URLs cannot be guessed from each other.
Plain data in and out: the HTTP adapter makes the headers (Content-Location, X-Progress,
Retry-After, Expires).
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qsl

from ..bulk.files import check_name
from ..bulk.request import NDJSON, parse_kickoff
from ..jobs import JobQueue
from ..jobs.bulk_export import file_store, type_filter_criteria
from ..outcomes import OperationOutcomeError, error, fail
from ..storage.jobs import now_micros
from ..storage.repository import micros_to_instant

GROUP_QUERY = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/group-member-query"
KIND = "bulk-export"
REGISTRY_KIND = "registry-export"
KINDS = (KIND, REGISTRY_KIND)


class ThrottledError(OperationOutcomeError):
    """Too many exports queued or running: 429, try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(error("throttled", message), 429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ExportKickoff:
    poll_id: str
    status_url: str
    job_id: int


@dataclass(frozen=True)
class ExportStatus:
    state: str                    # queued | running | succeeded
    progress: str                 # X-Progress
    retry_after: int
    manifest: dict | None = None  # when succeeded
    expires: int | None = None    # microseconds: when the files go


@dataclass(frozen=True)
class ExportFile:
    chunks: Iterator[bytes]
    size: int
    media_type: str = NDJSON


@dataclass(frozen=True)
class ExportJobSummary:
    """One export for the web pages: where it stands and where its results are."""
    job_id: int
    kind: str                     # bulk-export | registry-export
    poll_id: str
    state: str
    progress: str
    fraction: float | None
    request: str
    requested_by: str | None
    created: str
    finished: str | None
    status_url: str
    files: tuple[tuple[str, str, int], ...]   # (type, url, count)
    error: str | None


class ExportService:
    def __init__(self, db, engine, config, sync=None, guard=None):
        self.guard = guard          # scopes (fhirsvc/security): None only in hand-built tests
        self.db = db
        self.engine = engine
        self.config = config
        self._sync = sync
        self.queue = JobQueue(db)

    # -- kick-off ------------------------------------------------------------------------------
    def kickoff(self, ctx, level: str, group_id: str | None, pairs: list[tuple[str, str]], *,
                request_url: str, respond_async: bool = True) -> ExportKickoff:
        if not respond_async:
            raise fail(400, "invalid", "$export runs asynchronously: send Prefer: "
                       "respond-async")
        params = parse_kickoff(pairs, strict=ctx.strict_handling, level=level)
        if self.guard is not None:
            self.guard.require_whole(ctx, params.types, "r", "A Bulk Data export")
        with self.db.unit_of_work() as uow:
            if self._sync is not None:
                self._sync(uow)
            for item in params.type_filters:  # a bad filter is a 400 now, not a failed job
                try:
                    _, crit = type_filter_criteria(self.engine.parser, item)
                except OperationOutcomeError as exc:
                    raise OperationOutcomeError([error(
                        "invalid", f"_typeFilter {item!r}: {i.message}", "_typeFilter")
                        for i in exc.issues], 400) from None
                if self.guard is not None:  # what the filter joins: whole types too
                    self.guard.typefilter(ctx, crit, f"_typeFilter {item}")
            patients = self._patients(uow, level, group_id, params.patients)
            # no committed change is newer than transactionTime (clock steps, other hosts)
            transaction_time = max(now_micros(), uow.exports.now_floor() + 1)
        warnings = list(params.warnings)
        if params.types is not None and level != "system":
            outside = [t for t in params.types if t != "Patient" and
                       not self.engine.registry.patient_compartment(t)]
            if outside:
                warnings.append(f"_type {', '.join(outside)}: not in the Patient compartment, "
                                "so not part of a patient-level export")
        secret = secrets.token_urlsafe(12)
        job = self.queue.enqueue(KIND, {
            "level": level, "group": group_id, "patients": patients, "types": params.types,
            "since": params.since, "type_filters": params.type_filters,
            "transaction_time": transaction_time, "request": request_url, "secret": secret,
            "elements": [list(e) for e in params.elements], "associated": params.associated,
            "until": params.until,
            "warnings": warnings}, requested_by=ctx.caller,
            max_active=self.config.bulk_max_active)
        if job is None:
            raise ThrottledError(
                f"{self.config.bulk_max_active} exports are already queued or running; try "
                f"again later", self.config.bulk_retry_after)
        poll_id = f"{job.id}-{secret}"
        return ExportKickoff(poll_id, self.status_url(ctx, poll_id), job.id)

    def _patients(self, uow, level: str, group_id: str | None, asked: list[str] | None
                  ) -> list[str] | None:
        """The Patient ids an export is limited to (None: every patient / no limit)."""
        if level == "system":
            return None
        members = None
        if level == "group":
            stored = uow.resources.read("Group", group_id)
            if stored is None or stored.deleted:
                raise fail(404, "not-found", f"Group/{group_id} is not known")
            members = self._members(uow, stored.resource())
        if asked is not None:
            known = set(uow.exports.current_ids("Patient", asked))
            missing = [p for p in asked if p not in known]
            if missing:
                raise fail(400, "not-found", f"patient: no Patient {', '.join(missing)}",
                           "patient")
            if members is not None:
                outside = [p for p in asked if p not in set(members)]
                if outside:
                    raise fail(400, "invalid", f"patient: {', '.join(outside)} not members of "
                               f"Group/{group_id}", "patient")
            return sorted(asked)
        return members

    def _members(self, uow, group: dict) -> list[str]:
        query = next((e.get("valueString") for e in group.get("extension", [])
                      if e.get("url") == GROUP_QUERY), None)
        if query:  # a Group defined by a search expression (fhirsvc extension)
            rtype, _, q = query.partition("?")
            if rtype != "Patient":
                raise fail(400, "not-supported", f"Group member query {query!r} must search "
                           "Patient", "Group.extension")
            crit = self.engine.parser.criteria("Patient", parse_qsl(q, keep_blank_values=True))
            return uow.exports.ids_matching(crit)
        ids = []
        for m in group.get("member", []):
            if m.get("inactive"):
                continue
            ref = (m.get("entity") or {}).get("reference", "")
            rtype, _, rid = ref.rpartition("/")
            if rtype.split("/")[-1] == "Patient" and rid:
                ids.append(rid)
        return uow.exports.current_ids("Patient", sorted(set(ids)))

    def kickoff_registry(self, ctx, fmt: str, since: str | None, group: str | None, *,
                         request_url: str, warnings: list[str] = ()) -> ExportKickoff:
        """A registry CSV export as a job (large exports): polled like a Bulk Data export;
        `warnings` (ignored parameters) go to the manifest's error file, as Bulk Data's."""
        from ..bulk.request import parse_instant
        from .registry import FORMATS
        if self.guard is not None:
            self.guard.require_whole(ctx, None, "r", "A registry export")
        if fmt not in FORMATS:
            raise fail(400, "invalid", f"format must be one of {', '.join(FORMATS)}, not "
                       f"{fmt!r}", "format")
        if since:
            parse_instant(since, "_since")
        if group is not None:
            with self.db.unit_of_work() as uow:
                stored = uow.resources.read("Group", group)
                if stored is None or stored.deleted:
                    raise fail(404, "not-found", f"Group/{group} is not known", "group")
        secret = secrets.token_urlsafe(12)
        job = self.queue.enqueue(REGISTRY_KIND, {
            "format": fmt, "since": since, "group": group, "secret": secret,
            "request": request_url, "transaction_time": now_micros(),
            "warnings": list(warnings)},
            requested_by=ctx.caller, max_active=self.config.bulk_max_active)
        if job is None:
            raise ThrottledError(f"{self.config.bulk_max_active} registry exports are already "
                                 "queued or running; try again later",
                                 self.config.bulk_retry_after)
        poll_id = f"{job.id}-{secret}"
        return ExportKickoff(poll_id, self.status_url(ctx, poll_id), job.id)

    # -- status, files, cancel -----------------------------------------------------------------
    def status_url(self, ctx, poll_id: str) -> str:
        return f"{ctx.base_url}/$export-poll/{poll_id}"

    def file_url(self, ctx, poll_id: str, name: str) -> str:
        return f"{ctx.base_url}/$export-file/{poll_id}/{name}"

    def _job(self, poll_id: str, ctx=None):
        job_id, _, secret = poll_id.partition("-")
        job = self.queue.get(int(job_id)) if job_id.isdigit() else None
        if (job is None or job.kind not in KINDS
                or not hmac.compare_digest(str(job.params.get("secret", "")), secret)):
            raise fail(404, "not-found", f"No export {poll_id!r} (it may have expired or "
                       "been cancelled)")
        if ctx is not None and self.guard is not None:
            self.guard.require_requester(ctx, job.requested_by, f"Export {poll_id}")
        return job

    def status(self, ctx, poll_id: str) -> ExportStatus:
        job = self._job(poll_id, ctx)
        retry = self.config.bulk_retry_after
        if job.state in ("queued", "running"):
            return ExportStatus(job.state, job.progress_text(), retry)
        if job.state == "cancelled":
            raise fail(404, "not-found", f"Export {poll_id} was cancelled")
        if job.state == "failed":
            raise OperationOutcomeError(error(
                "exception", f"The export failed: {job.error or 'no reason recorded'}"), 500)
        res = job.result or {}
        links = lambda items: [{"type": o["type"], "url": self.file_url(ctx, poll_id, o["name"]),
                                "count": o["count"]} for o in items]  # noqa: E731
        manifest = {"transactionTime": micros_to_instant(res["transactionTime"]),
                    "request": res["request"],
                    "requiresAccessToken": self.config.bulk_requires_access_token,
                    "output": links(res.get("output", [])), "error": links(res.get("error", []))}
        if res.get("deleted"):
            manifest["deleted"] = links(res["deleted"])
        expires = (job.finished or now_micros()) + int(self.config.bulk_file_ttl * 1e6)
        return ExportStatus(job.state, job.progress_text(), retry, manifest, expires)

    def open_file(self, ctx, poll_id: str, name: str) -> ExportFile:
        job = self._job(poll_id, ctx)
        names = {o["name"]: o.get("media_type", NDJSON) for key in ("output", "error", "deleted")
                 for o in (job.result or {}).get(key, [])}
        if job.state != "succeeded" or name not in names:
            raise fail(404, "not-found", f"Export {poll_id} has no file {name!r}")
        store = file_store(self.config)
        check_name(name)
        size = store.size(job.id, name)
        if size is None:
            raise fail(404, "not-found", f"The file {name} of export {poll_id} has expired")
        return ExportFile(store.read(job.id, name), size, names[name])

    def cancel(self, ctx, poll_id: str) -> None:
        """Cancel a queued or running export, or delete a finished one's files (DELETE)."""
        job = self._job(poll_id, ctx)
        if job.state == "cancelled":
            raise fail(404, "not-found", f"Export {poll_id} was already cancelled")
        self.queue.cancel(job.id)
        file_store(self.config).remove(job.id)
        if job.terminal:  # finished: its files are gone, and so is its status
            with self.db.unit_of_work(write=True) as uow:
                uow.jobs.delete(job.id)
                uow.commit()

    # -- for the web pages ---------------------------------------------------------------------
    def jobs(self, ctx, limit: int = 50) -> list[ExportJobSummary]:
        """Recent exports, newest first, with their state, progress and result links."""
        out = []
        listed = sorted((j for kind in KINDS for j in self.queue.list(kind, None, None, limit)),
                        key=lambda j: -j.id)[:limit]
        for job in listed:
            poll_id = f"{job.id}-{job.params.get('secret', '')}"
            files = ()
            if job.state == "succeeded":
                files = tuple((o["type"], self.file_url(ctx, poll_id, o["name"]), o["count"])
                              for o in (job.result or {}).get("output", []))
            out.append(ExportJobSummary(
                job.id, job.kind, poll_id, job.state, job.progress_text(), job.fraction,
                job.params.get("request", ""), job.requested_by, micros_to_instant(job.created),
                micros_to_instant(job.finished) if job.finished else None,
                self.status_url(ctx, poll_id), files, job.error))
        return out
