"""Page builder of the feeds page: the jobs (services.jobs) and the message feeds.

FEED_SECTIONS lists the feeds that have a service (the HL7 v2 message log); a new feed is one
FeedSection whose `rows` calls its service, e.g.

    FeedSection("hl7v2", "HL7 v2 message log",
                rows=lambda services, ctx: services.hl7v2.messages(ctx, limit=50),
                columns=(("Received", "received"), ("Sender", "sender"), ("Type", "type"),
                         ("Control id", "control_id"), ("ACK", "ack_code"),
                         ("Errors", "errors")))

`columns` are (heading, attribute or key of a row). Until then the page says the log is not
available in this build. Export jobs (registry branch) are jobs: they appear in the jobs table
by themselves, and their result's file URLs become links.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable


@dataclass(frozen=True)
class FeedSection:
    key: str
    title: str
    rows: Callable            # (services, ctx) -> iterable of objects or dicts
    columns: tuple[tuple[str, str], ...]


def hl7v2_rows(services, ctx) -> list[dict]:
    """The newest HL7 v2 messages (services.hl7v2.messages), one row each."""
    import json
    page = services.hl7v2.messages(ctx, limit=50)
    rows = []
    for e in page.entries:
        issues = json.loads(e.issues) if e.issues else []
        rows.append({"received": instant(e.received), "door": e.door, "sender": e.sender,
                     "type": e.message_type, "control_id": e.control_id, "ack": e.outcome,
                     "errors": [i.get("message", str(i)) if isinstance(i, dict) else str(i)
                                for i in issues]})
    return rows


FEED_SECTIONS: list[FeedSection] = [
    FeedSection("hl7v2", "HL7 v2 message log", rows=hl7v2_rows,
                columns=(("Received", "received"), ("Door", "door"), ("Sender", "sender"),
                         ("Type", "type"), ("Control id", "control_id"), ("ACK", "ack"),
                         ("Errors", "errors"))),
]
PENDING_FEEDS = (("hl7v2", "HL7 v2 message log",
                  "Sender, message type, control id, ACK code and errors of each HL7 v2 "
                  "message received."),)


def cell(row, name: str):
    value = row.get(name) if isinstance(row, dict) else getattr(row, name, None)
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return "" if value is None else value


def instant(micros: int | None) -> str:
    if micros is None:
        return ""
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    state: str
    percent: int | None
    progress: str
    created: str
    finished: str
    attempts: str
    result: str
    links: tuple[tuple[str, str], ...]
    error: str
    requested_by: str


def _links(result) -> list[tuple[str, str]]:
    """URLs in a job's result (Bulk Data `output[].url`, a file per export), as (label, url)."""
    out = []

    def walk(v, label):
        if isinstance(v, dict):
            for k, child in v.items():
                walk(child, v.get("type") or k if k == "url" else k)
        elif isinstance(v, list):
            for child in v:
                walk(child, label)
        elif isinstance(v, str) and v.startswith(("http://", "https://", "/")):
            out.append((label, v))
    walk(result, "result")
    return out


def _result_text(result) -> str:
    if result is None:
        return ""
    if isinstance(result, dict):
        return ", ".join(f"{k}: {v}" for k, v in result.items()
                         if not isinstance(v, (dict, list)))
    return str(result)


def job_rows(jobs) -> list[JobRow]:
    rows = []
    for job in jobs:
        fraction = job.fraction
        rows.append(JobRow(job.id, job.kind, job.state,
                           None if fraction is None else int(round(100 * fraction)),
                           job.progress_text(), instant(job.created), instant(job.finished),
                           f"{job.attempts} of {job.max_attempts}", _result_text(job.result),
                           tuple(_links(job.result)), job.error or "", job.requested_by or ""))
    return rows
