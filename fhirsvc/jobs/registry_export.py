"""The `registry-export` job kind: a registry CSV (flat, REDCap dictionary or records) written
to the export file store, for exports too large to wait for in one request.

It writes the whole file in one go from offset 0, so a rerun after a crash replaces what an
interrupted attempt left (the result only names the file once it is complete).
"""
from __future__ import annotations

from ..config import Config
from .bulk_export import ERROR_FILE, _outcomes, file_store
from .context import Cancelled, JobError
from .kinds import JobKind


class RegistryExport(JobKind):
    name = "registry-export"
    max_attempts = 3
    retry_backoff = 5.0

    @property
    def result_ttl(self) -> float:
        return Config.from_env().bulk_file_ttl

    def parameters(self, params: dict) -> dict:
        for key in ("format", "secret", "request", "transaction_time"):
            if key not in params:
                raise ValueError(f"registry-export needs {key}")
        return dict(params)

    def run(self, job, ctx):
        try:
            params = self.parameters(job.params)
        except ValueError as exc:
            raise JobError(str(exc)) from None
        runtime = ctx.runtime
        store = file_store(runtime.config)
        name = f"registry-{params['format']}.csv"
        rctx = runtime.context(door="worker", caller=job.requested_by)
        lines = runtime.services.registry.export(rctx, params["format"], params.get("since"),
                                                 params.get("group"))
        rows = -1  # the header is not a row
        warnings = list(params.get("warnings") or [])
        try:
            with store.append(job.id, name, 0) as out:
                for line in lines:
                    out.write(line.encode("utf-8"))
                    rows += 1
                    if rows % 5000 == 0:
                        ctx.check()
            if warnings:  # what the kick-off ignored, as a Bulk Data export's error file
                with store.append(job.id, ERROR_FILE, 0) as out:
                    out.write(_outcomes(warnings))
        except Cancelled:
            store.remove(job.id)
            raise
        ctx.progress(rows, rows, note=f"{rows} rows")
        errors = [{"type": "OperationOutcome", "name": ERROR_FILE, "count": len(warnings)}] \
            if warnings else []
        return {"transactionTime": params["transaction_time"], "request": params["request"],
                "output": [{"type": params["format"], "name": name, "count": rows,
                            "media_type": "text/csv"}], "error": errors}

    def cleanup(self, job, runtime) -> None:
        file_store(runtime.config).remove(job.id)
