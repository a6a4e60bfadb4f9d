"""Bulk Data $export views (Bulk Data IG 3.0.0): HTTP <-> services.export, headers here."""
from __future__ import annotations

from flask import Response, request

from ..bulk.request import from_parameters
from ..services.export import ThrottledError
from ..wire import parse_json
from . import views as _v
from .negotiation import outcome_response, request_json

BULK_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
# export files: NDJSON (Bulk Data) and CSV (registry exports run as jobs)
NDJSON_TYPES = ("application/fhir+ndjson", "application/ndjson", "text/csv")


def _kickoff(level: str, group_id: str | None = None):
    ctx = _v.context()
    pairs = _v.query_pairs()
    if request.method == "POST":
        pairs = pairs + from_parameters(parse_json(request_json(request)))
    respond_async = "respond-async" in {p.strip() for p in
                                        request.headers.get("Prefer", "").split(",")}
    try:
        kick = _v.services().export.kickoff(ctx, level, group_id, pairs,
                                            request_url=request.url,
                                            respond_async=respond_async)
    except ThrottledError as exc:
        return outcome_response(exc.issues, 429, {"Retry-After": str(exc.retry_after)})
    return Response(status=202, headers={"Content-Location": kick.status_url})


def export_system():
    return _kickoff("system")


def export_patient():
    return _kickoff("patient")


def export_group(gid):
    return _kickoff("group", gid)


def export_poll(poll_id):
    import orjson
    st = _v.services().export.status(_v.context(), poll_id)
    if st.manifest is None:
        return Response(status=202, headers={"X-Progress": st.progress[:100],
                                             "Retry-After": str(st.retry_after)})
    return Response(orjson.dumps(st.manifest), 200, content_type="application/json",
                    headers={"Expires": _v.http_date(st.expires)})


def export_cancel(poll_id):
    _v.services().export.cancel(_v.context(), poll_id)
    return Response(status=202)


def export_file(poll_id, name):
    f = _v.services().export.open_file(_v.context(), poll_id, name)
    return Response(f.chunks, 200, content_type=f.media_type,
                    headers={"Content-Length": str(f.size)}, direct_passthrough=True)
