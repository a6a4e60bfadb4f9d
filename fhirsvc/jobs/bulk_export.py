"""The `bulk-export` job kind: Bulk Data $export files, streamed from the stored JSON text.

Parameters (fixed at kick-off by services/export.py): level, group, patients (ids, resolved at
kick-off), types, since, type_filters, transaction_time, request, secret, warnings, elements
([type or None, name] pairs of _elements), until (_until, µs), associated
(includeAssociatedData: latest | relevant | None); and, for
operators and tests, batch (most rows per batch) and pause (seconds between batches).

One NDJSON file per resource type, written in keyset batches: after each batch the file is
flushed and the cursor (type, last id, byte offset, count) is checkpointed, so a worker that
dies mid-file is replaced by one that cuts the file back to the checkpoint and carries on:
no line is lost or written twice, whatever attempt finishes the job. Memory is one batch of
text. Deleted resources (only with _since) become transaction Bundles of DELETE entries in
their own file; warnings become OperationOutcomes in the error file.
"""
from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import parse_qsl

import orjson

from ..bulk.files import LocalFileStore
from ..config import Config
from ..storage.export_queries import BatchSizer, Selection
from ..summary import select_elements
from .context import Cancelled, JobError
from .kinds import JobKind

BATCH = 5000
DELETED_FILE = "deleted.ndjson"
ERROR_FILE = "OperationOutcome.ndjson"
LATE_LISTED = 20  # resources named in a _typeFilter warning (see _late_filtered)
REQUIRED = ("level", "transaction_time", "request", "secret")


def file_store(config) -> LocalFileStore:
    return LocalFileStore(config.export_dir)


def compartment_params(runtime, rtype: str) -> tuple[str, ...]:
    return tuple(runtime.search_registry.patient_compartment(rtype))


def type_filter_criteria(parser, item: str):
    """'Observation?code=x&status=final' -> (type, Criteria); OperationOutcomeError if bad."""
    rtype, _, query = item.partition("?")
    return rtype, parser.criteria(rtype, parse_qsl(query, keep_blank_values=True))


def plan(runtime, params: dict, uow) -> list[Selection]:
    """The files of an export, one Selection per resource type, in type order."""
    parser = runtime.search_engine.parser
    patients = params.get("patients")
    level = params["level"]
    scoped = level in ("patient", "group")
    types = params.get("types")
    present = uow.exports.types_present(types)
    if scoped:
        present = [t for t in present if t == "Patient" or compartment_params(runtime, t)]
    filters: dict[str, list] = {}
    for item in params.get("type_filters") or []:
        rtype, crit = type_filter_criteria(parser, item)
        filters.setdefault(rtype, []).append(crit)
    since = params.get("since")
    # _until: the state just before it (changes at or after it are not in the files), never
    # later than transactionTime
    until = params["transaction_time"]
    if params.get("until") is not None:
        until = min(until, params["until"] - 1)
    selections = [Selection(rtype=t, until=until, since=since,
                            patients=tuple(patients) if scoped and patients is not None
                            else None, all_patients=scoped and patients is None,
                            compartment_params=compartment_params(runtime, t) if scoped
                            else (), filters=tuple(filters.get(t, ())),
                            include_deleted=since is not None)
                  for t in present]
    associated = params.get("associated")
    if associated and uow.exports.types_present(["Provenance"]):
        # includeAssociatedData: the Provenance of the exported resources, in one Provenance
        # file; merged into the Provenance selection when Provenance is exported anyway, so
        # no Provenance is written twice
        others = tuple(s for s in selections if s.rtype != "Provenance")
        own = next((s for s in selections if s.rtype == "Provenance"), None)
        prov = replace(own or Selection(rtype="Provenance", until=until,
                                        since=since, include_deleted=since is not None),
                       associated=others, latest=associated == "latest",
                       associated_only=own is None)
        selections = sorted([s for s in selections if s.rtype != "Provenance"] + [prov],
                            key=lambda s: s.rtype)
    return selections


def element_filters(elements) -> dict:
    """_elements [(type or None, name)] -> {type or None: names}; None applies to every type."""
    out: dict = {}
    for rtype, name in elements or ():
        out.setdefault(rtype, set()).add(name)
    return out


def reduce_elements(content: str, wanted: dict) -> str:
    """One stored resource reduced to the _elements asked for its type (Bulk Data 3.0.0):
    the listed root elements, always id, meta and the type's mandatory (min >= 1) ones,
    tagged SUBSETTED. A type with no element listed for it is left whole."""
    res = orjson.loads(content)
    names = wanted.get(res.get("resourceType"), set()) | wanted.get(None, set())
    if not names:
        return content
    return orjson.dumps(select_elements(res, ",".join(sorted(names)))).decode()


def _deleted_bundle(rtype: str, ids: list[str]) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"{rtype}/{rid}"}} for rid in ids]}) + b"\n"


def _outcomes(messages: list[str]) -> bytes:
    return b"".join(orjson.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "informational", "details": {"text": m}}]}) + b"\n"
        for m in messages)


class BulkExport(JobKind):
    name = "bulk-export"
    max_attempts = 3
    retry_backoff = 5.0

    @property
    def result_ttl(self) -> float:  # read per use: every worker honours FHIRSVC_BULK_FILE_TTL
        return Config.from_env().bulk_file_ttl

    def parameters(self, params: dict) -> dict:
        missing = [k for k in REQUIRED if k not in params]
        if missing:
            raise ValueError(f"bulk-export needs {', '.join(missing)}")
        pause = params.get("pause", 0)
        if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 <= pause <= 60:
            raise ValueError(f"bulk-export pause must be 0 to 60 seconds, not {pause!r}")
        if params["level"] not in ("system", "patient", "group"):
            raise ValueError(f"bulk-export level {params['level']!r} is not system, patient "
                             "or group")
        return dict(params)

    def run(self, job, ctx):
        try:
            params = self.parameters(job.params)
        except ValueError as exc:
            raise JobError(str(exc)) from None
        runtime = ctx.runtime
        store = file_store(runtime.config)
        batch_size = int(params.get("batch") or BATCH)
        try:
            with runtime.db.unit_of_work() as uow:
                selections = plan(runtime, params, uow)
                cursor = ctx.cursor
                if cursor is None:
                    total = sum(uow.exports.count(s) for s in selections)
                    cursor = {"i": 0, "after": 0, "offset": 0, "count": 0, "done": 0,
                              "total": total, "outputs": [], "doffset": 0, "dcount": 0}
            if not ctx.resumed:
                store.remove(job.id)  # a fresh start never sees another attempt's files
            ctx.checkpoint(cursor, done=cursor["done"], total=cursor["total"],
                           note=f"{len(selections)} resource types")
            wanted = element_filters(params.get("elements"))
            while cursor["i"] < len(selections):
                cursor = self._one_type(ctx, job, store, selections[cursor["i"]], cursor,
                                        batch_size, wanted)
            warnings = list(params.get("warnings") or []) + list(cursor.get("notes") or [])
            if warnings:
                with store.append(job.id, ERROR_FILE, 0) as out:
                    out.write(_outcomes(warnings))
        except Cancelled:
            store.remove(job.id)  # DELETE also removes them; the handler may have written since
            raise
        result = {"transactionTime": params["transaction_time"], "request": params["request"],
                  "output": cursor["outputs"], "error": [], "deleted": []}
        if warnings:
            result["error"].append({"type": "OperationOutcome", "name": ERROR_FILE,
                                    "count": len(warnings)})
        if cursor["dcount"]:
            result["deleted"].append({"type": "Bundle", "name": DELETED_FILE,
                                      "count": cursor["dcount"]})
        return result

    def _one_type(self, ctx, job, store, sel: Selection, cursor: dict, size: int,
                  wanted: dict | None = None) -> dict:
        reduce = bool(wanted) and bool(wanted.get(sel.rtype) or wanted.get(None))
        name = f"{sel.rtype}.ndjson"
        last_log = time.monotonic()
        sizer = BatchSizer(max_rows=size)
        with store.append(job.id, name, cursor["offset"]) as out, \
                store.append(job.id, DELETED_FILE, cursor["doffset"]) as dout:
            phase = sel if cursor.get("phase", "main") == "main" else sel.later()
            while True:
                with ctx.db.unit_of_work() as uow:
                    rows = uow.exports.batch(phase, cursor["after"], sizer.rows)
                if not rows:
                    if phase.phase == "main":  # then the few changed after transactionTime
                        phase = sel.later()
                        cursor = dict(cursor, phase="late", after=0,
                                      notes=cursor.get("notes", []) + self._late_filtered(
                                          ctx, sel))
                        continue
                    break
                sizer.seen(rows)
                live = [content for _pk, _rid, content, deleted in rows if not deleted]
                if reduce:
                    live = [reduce_elements(content, wanted) for content in live]
                gone = [rid for _pk, rid, _content, deleted in rows if deleted]
                if live:
                    out.write("\n".join(live).encode() + b"\n")
                    out.flush()
                if gone:
                    dout.write(_deleted_bundle(sel.rtype, gone))
                    dout.flush()
                cursor = dict(cursor, after=rows[-1][0], offset=out.offset,
                              count=cursor["count"] + len(live), done=cursor["done"] + len(rows),
                              doffset=dout.offset, dcount=cursor["dcount"] + (1 if gone else 0))
                ctx.checkpoint(cursor, done=cursor["done"],
                               total=max(cursor["total"], cursor["done"]),
                               note=f"{sel.rtype}: {cursor['count']}")
                if job.params.get("pause"):  # leave room for other work on a busy primary
                    ctx.sleep(job.params["pause"])
                if time.monotonic() - last_log > 10:
                    ctx.log.info("job %s: %s %d exported", job.id, sel.rtype, cursor["count"])
                    last_log = time.monotonic()
        outputs = list(cursor["outputs"])
        if cursor["count"]:
            outputs.append({"type": sel.rtype, "name": name, "count": cursor["count"]})
        cursor = dict(cursor, i=cursor["i"] + 1, phase="main", after=0, offset=0, count=0, outputs=outputs)
        ctx.checkpoint(cursor)
        return cursor

    @staticmethod
    def _late_filtered(ctx, sel: Selection) -> list[str]:
        """_typeFilter is matched on the index, which holds each resource's current version
        only. For a resource not changed since transactionTime (the main phase: nearly all)
        that is exactly its state then. One changed after it (between kick-off and the read
        of its type) is exported as it was, but matched on its newer version's index rows:
        such resources are named in a warning of the error file, so the manifest says so."""
        if not sel.filters:
            return []
        with ctx.db.unit_of_work() as uow:
            rows = uow.exports.batch(replace(sel, filters=(), phase="late"), 0, LATE_LISTED + 1)
        if not rows:
            return []
        ids = [f"{sel.rtype}/{rid}" for _pk, rid, _c, _d in rows[:LATE_LISTED]]
        more = " and more" if len(rows) > LATE_LISTED else ""
        return [f"_typeFilter for {sel.rtype}: {', '.join(ids)}{more} changed after the "
                "export's point in time (transactionTime, or _until); the filter was matched "
                "on the newer version (the search index holds current versions only), while "
                "the files hold the version current at that point"]

    def cleanup(self, job, runtime) -> None:
        file_store(runtime.config).remove(job.id)
