"""Registry dataset views: GET [base]/$registry-export (text/csv, or a job with Prefer:
respond-async) and POST [base]/$registry-import (a text/csv body)."""
from __future__ import annotations

from flask import Response, request

from ..outcomes import OperationOutcomeError, error, information
from ..services.export import ThrottledError
from . import views as _v
from .negotiation import outcome_response

GUIDE_OPS = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/"
CSV_TYPES = ("text/csv",)
CSV_BODY = {"text/csv", "application/csv", "text/plain"}


def registry_export():
    ctx = _v.context()
    fmt = request.args.get("format", "csv")
    since, group = request.args.get("_since"), request.args.get("group")
    warnings = _v.services().registry.check_export_parameters(
        ctx, [name for name, _ in _v.query_pairs()])
    if "respond-async" in {p.strip() for p in request.headers.get("Prefer", "").split(",")}:
        try:
            kick = _v.services().export.kickoff_registry(ctx, fmt, since, group,
                                                         request_url=request.url,
                                                         warnings=warnings)
        except ThrottledError as exc:
            return outcome_response(exc.issues, 429, {"Retry-After": str(exc.retry_after)})
        return Response(status=202, headers={"Content-Location": kick.status_url})
    lines = _v.services().registry.export(ctx, fmt, since, group)
    name = f"registry-{fmt}.csv"
    headers = [("Content-Disposition", f'attachment; filename="{name}"')]
    # a CSV body has no room for an OperationOutcome: each ignored parameter is a Warning
    # header (299, "miscellaneous persistent warning")
    headers += [("Warning", f'299 fhirsvc "{_quoted(w)}"') for w in warnings]
    return Response((line.encode("utf-8") for line in lines), 200,
                    content_type="text/csv; charset=utf-8", headers=headers)


def _quoted(text: str) -> str:
    """A header's quoted-string: no quote, backslash or control character left unescaped
    (a parameter name comes from the client)."""
    safe = "".join(ch if ch.isprintable() and ord(ch) < 128 else "?" for ch in text)
    return safe.replace("\\", "\\\\").replace('"', '\\"')


def registry_import():
    if (request.mimetype or "") not in CSV_BODY:
        raise OperationOutcomeError(error(
            "not-supported", f"$registry-import takes a text/csv body, not "
            f"{request.mimetype!r}"), 415)
    result = _v.services().registry.import_csv(_v.context(), request.get_data(cache=False))
    return outcome_response([information(
        "informational", f"Imported {result.records} records as {result.resources} resources"
        + (f"; {result.provenance}" if result.provenance else ""))], 200)
