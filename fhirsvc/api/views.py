"""FHIR RESTful interactions (R4 http.html) as thin views over `FhirService`."""
from __future__ import annotations

import email.utils
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, request

from ..outcomes import OperationOutcomeError, error, fail, information
from ..resource_types import RESOURCE_TYPES
from ..services import FhirService, Result, http_date, parse_json
from ..summary import check_summary, select_elements, summarise
from .capability import capability_statement, interaction, operation
from .negotiation import fhir_response, outcome_response, prefer, request_json

bp = Blueprint("fhir", __name__)


def service() -> FhirService:
    return current_app.extensions["fhirsvc"]


def base_url() -> str:
    cfg = current_app.config["FHIRSVC"]
    if cfg.public_base_url:
        return cfg.public_base_url.rstrip("/")
    return request.host_url.rstrip("/") + cfg.base_path


def known_type(rtype: str) -> str:
    if rtype not in RESOURCE_TYPES:
        raise OperationOutcomeError(error(
            "not-supported", f"Unknown resource type {rtype!r} (this is a FHIR R4 server)"), 404)
    return rtype


def query_pairs() -> list[tuple[str, str]]:
    return parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True)


def resource_headers(stored) -> dict:
    return {"ETag": f'W/"{stored.version}"',
            "Last-Modified": http_date(stored.last_updated_datetime),
            "Content-Location": f"{base_url()}/{stored.resource_type}/{stored.resource_id}"
                                f"/_history/{stored.version}"}


def stored_body(stored):
    """The stored text as is, unless _summary / _elements ask for a reduced copy."""
    summary = check_summary(request.args.get("_summary"))
    elements = request.args.get("_elements")
    if summary in (None, "false") and not elements:
        return stored.content
    res = stored.resource()
    if summary not in (None, "false"):
        res = summarise(res, summary)
    if elements:
        res = select_elements(res, elements)
    return res


def write_response(result: Result, created_status: int | None = None) -> Response:
    """Answer a create / update / delete according to `Prefer: return=`."""
    headers = {}
    stored = result.stored
    if stored is not None and not stored.deleted:
        headers = resource_headers(stored)
        if result.status == 201:
            headers["Location"] = (f"{base_url()}/{stored.resource_type}/{stored.resource_id}"
                                   f"/_history/{stored.version}")
    elif stored is not None:
        headers = {"ETag": f'W/"{stored.version}"'}
    ret = prefer(request).get("return", "representation")
    if stored is None or stored.deleted:  # a delete (or one that found nothing to delete)
        if ret == "OperationOutcome":
            return outcome_response(request, result.issues, 200, headers)
        return Response(status=204, headers=headers)
    if ret == "minimal":
        return Response(status=result.status, headers=headers)
    if ret == "OperationOutcome":
        issues = result.issues or [information("informational", "OK")]
        return outcome_response(request, issues, result.status, headers)
    return fhir_response(request, stored.content, result.status, headers)


# -- system level ---------------------------------------------------------------------------
@bp.get("/metadata")
@interaction("capabilities", "system")
def metadata():
    svc = service()
    registry = getattr(svc.search_engine, "registry", None)
    return fhir_response(request, capability_statement(base_url(), registry))


@bp.post("/")
@bp.post("")
@interaction("transaction", "system")
@interaction("batch", "system")
def transaction():
    body = parse_json(request_json(request))
    return_resources = prefer(request).get("return") == "representation"
    bundle = service().process_bundle(body, base_url(), return_resources)
    return fhir_response(request, bundle)


@bp.get("/")
@bp.get("")
@interaction("search-system", "system")
def search_system():
    return _search(None)


@bp.get("/_history")
@interaction("history-system", "system")
def history_system():
    return fhir_response(request, service().history(None, None, query_pairs(), base_url()))


# -- type level -----------------------------------------------------------------------------
@bp.post("/<rtype>")
@interaction("create", "type")
def create(rtype):
    known_type(rtype)
    body = request_json(request)
    result = service().create(rtype, body, request.headers.get("If-None-Exist"))
    return write_response(result)


def strict_handling() -> bool:
    return prefer(request).get("handling") == "strict"


def _search(rtype: str | None, compartment: tuple[str, str] | None = None,
            params: list[tuple[str, str]] | None = None):
    svc = service()
    with svc.db.unit_of_work() as uow:
        svc.sync_conformance(uow)
        bundle = svc.search_engine.search(
            uow, rtype, query_pairs() if params is None else params, base_url=base_url(),
            strict=strict_handling(), compartment=compartment)
    return fhir_response(request, bundle)


@bp.get("/<rtype>")
@interaction("search-type", "type")
def search_type(rtype):
    known_type(rtype)
    return _search(rtype)


@bp.post("/<rtype>/_search")
def search_post(rtype):
    """POST search: form body parameters, plus any in the url."""
    known_type(rtype)
    ctype = (request.mimetype or "")
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise OperationOutcomeError(error(
            "not-supported", f"POST _search takes application/x-www-form-urlencoded, not "
            f"{ctype!r}"), 415)
    body = request.get_data(cache=True).decode("utf-8", "replace")
    return _search(rtype, params=query_pairs() + parse_qsl(body, keep_blank_values=True))


@bp.get("/<ctype>/<cid>/<rtype>")
def compartment_search(ctype, cid, rtype):
    known_type(ctype)
    known_type(rtype)
    return _search(rtype, compartment=(ctype, cid))


@bp.get("/Patient/<pid>/$everything")
@operation("everything", "instance",
           "http://hl7.org/fhir/OperationDefinition/Patient-everything")
def patient_everything(pid):
    svc = service()
    with svc.db.unit_of_work() as uow:
        bundle = svc.search_engine.everything(uow, pid, query_pairs(), base_url())
    return fhir_response(request, bundle)


@bp.put("/<rtype>")
def conditional_update(rtype):
    known_type(rtype)
    query = query_pairs()
    if not query:
        raise fail(400, "invalid", "PUT needs an id (PUT /Type/id) or search criteria for a "
                   "conditional update (PUT /Type?identifier=...)")
    result = service().conditional_update(rtype, query, request_json(request),
                                          request.headers.get("If-Match"))
    return write_response(result)


@bp.delete("/<rtype>")
def conditional_delete(rtype):
    known_type(rtype)
    query = query_pairs()
    if not query:
        raise OperationOutcomeError(error(
            "not-supported", "DELETE on a type needs search criteria (conditional delete)"), 405)
    return write_response(service().conditional_delete(rtype, query))


@bp.get("/<rtype>/_history")
@interaction("history-type", "type")
def history_type(rtype):
    known_type(rtype)
    return fhir_response(request, service().history(rtype, None, query_pairs(), base_url()))


# -- instance level -------------------------------------------------------------------------
@bp.get("/<rtype>/<rid>")
@interaction("read", "instance")
def read(rtype, rid):
    known_type(rtype)
    stored = service().read(rtype, rid)
    headers = resource_headers(stored)
    inm = request.headers.get("If-None-Match")
    if inm and any(tag.strip().removeprefix("W/").strip('"') == str(stored.version)
                   for tag in inm.split(",")):
        return Response(status=304, headers=headers)
    ims = request.headers.get("If-Modified-Since")
    if ims and not inm:
        try:
            since = email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            since = None
        if since is not None and stored.last_updated // 1_000_000 <= int(since.timestamp()):
            return Response(status=304, headers=headers)
    return fhir_response(request, stored_body(stored), 200, headers)


@bp.put("/<rtype>/<rid>")
@interaction("update", "instance")
def update(rtype, rid):
    known_type(rtype)
    body = parse_json(request_json(request))
    result = service().update(rtype, rid, body, request.headers.get("If-Match"))
    return write_response(result)


@bp.delete("/<rtype>/<rid>")
@interaction("delete", "instance")
def delete(rtype, rid):
    known_type(rtype)
    return write_response(service().delete(rtype, rid, request.headers.get("If-Match")))


@bp.get("/<rtype>/<rid>/_history")
@interaction("history-instance", "instance")
def history_instance(rtype, rid):
    known_type(rtype)
    return fhir_response(request, service().history(rtype, rid, query_pairs(), base_url()))


@bp.get("/<rtype>/<rid>/_history/<vid>")
@interaction("vread", "instance")
def vread(rtype, rid, vid):
    known_type(rtype)
    stored = service().vread(rtype, rid, vid)
    return fhir_response(request, stored_body(stored), 200, resource_headers(stored))


# -- $validate --------------------------------------------------------------------------------
VALIDATE_DEF = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


def _validate_params(rtype: str) -> tuple[dict | None, list[str], str | None]:
    body = parse_json(request_json(request))
    if not isinstance(body, dict):
        raise fail(400, "structure", "$validate takes a resource or a Parameters resource")
    if body.get("resourceType") != "Parameters" or rtype == "Parameters":
        return body, [], None
    resource, profiles, mode = None, [], None
    for i, p in enumerate(body.get("parameter") or []):
        name = p.get("name")
        if name == "resource":
            resource = p.get("resource")
        elif name == "profile":
            profiles.append(p.get("valueUri") or p.get("valueCanonical") or "")
        elif name == "mode":
            mode = p.get("valueCode") or p.get("valueString")
    if mode not in (None, "create", "update", "delete", "profile"):
        raise fail(400, "invalid", f"$validate mode must be create, update, delete or profile, "
                   f"not {mode!r}", "Parameters.parameter")
    return resource, [p for p in profiles if p], mode


def _run_validate(rtype: str, rid: str | None):
    resource, profiles, mode = _validate_params(rtype)
    svc = service()
    svc.sync_conformance()
    if mode == "delete":
        if rid is None:
            raise fail(400, "required", "$validate with mode=delete needs an instance "
                       "(POST /Type/id/$validate)")
        svc.read(rtype, rid)
        return outcome_response(request, [information("informational",
                                                      f"{rtype}/{rid} can be deleted")], 200)
    if not isinstance(resource, dict):
        raise fail(400, "required", "$validate needs the resource to check (the body, or a "
                   "'resource' parameter)")
    if resource.get("resourceType") != rtype:
        raise fail(400, "invalid", f"Resource is a {resource.get('resourceType')!r}, the url "
                   f"names {rtype!r}", "resourceType")
    issues = list(svc.validator.validate(resource, profiles,
                                         strict=svc.config.require_guide_profiles))
    if mode == "update" and rid is not None and resource.get("id") not in (None, rid):
        issues.append(error("invalid", f"Resource id {resource.get('id')!r} differs from {rid!r}",
                            f"{rtype}.id"))
    return outcome_response(request, issues, 200)


@bp.post("/<rtype>/$validate")
@operation("validate", "type", VALIDATE_DEF)
def validate_type(rtype):
    known_type(rtype)
    return _run_validate(rtype, None)


@bp.post("/<rtype>/<rid>/$validate")
@operation("validate", "instance", VALIDATE_DEF)
def validate_instance(rtype, rid):
    known_type(rtype)
    return _run_validate(rtype, rid)
