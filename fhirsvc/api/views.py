"""FHIR RESTful interactions (R4 http.html) as thin views: HTTP -> context and arguments ->
service -> HTTP. The route table at the end registers them and feeds the CapabilityStatement.
"""
from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, current_app, g, request

from ..context import DOOR_REST, RequestContext, new_request_id
from ..ingest import EntryResult, Outcome
from ..outcomes import OperationOutcomeError, error, information
from ..search.lastn import DEFINITION as LASTN
from ..services.validate import VALIDATE_DEFINITION
from ..wire import check_type, parse_json
from . import bulk_views as bulk
from . import registry_views as registry
from .base_url import base_url
from .security import after as security_after
from .security import authenticate, request_context_fields
from .negotiation import (fhir_response, negotiate, negotiated, outcome_response, prefer,
                          request_body, request_json)


def services():
    return current_app.extensions["fhirsvc.runtime"].services


def context_base() -> str:
    """The base of links (fhirsvc.api.base_url: never an arbitrary client Host header)."""
    cfg = current_app.config["FHIRSVC"]
    return base_url(cfg, request.scheme, request.host, current_app.config["FHIRSVC_HOSTS"],
                    request.script_root)


def context() -> RequestContext:
    cfg = current_app.config["FHIRSVC"]
    ctx = RequestContext(
        base_url=context_base(), door=DOOR_REST,
        request_id=(request.headers.get("X-Request-Id") or new_request_id())[:64],
        strict_handling=prefer(request).get("handling") == "strict",
        require_guide_profiles=cfg.require_guide_profiles,
        **request_context_fields())  # caller, scopes, patient from the token (api/security)
    g.fhirsvc_ctx = ctx  # the access audit record after the view
    return ctx


def query_pairs() -> list[tuple[str, str]]:
    return parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True)


def http_date(micros: int) -> str:
    return email.utils.format_datetime(
        datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc), usegmt=True)


def version_headers(stored, base_url: str) -> dict:
    return {"ETag": f'W/"{stored.version}"',
            "Last-Modified": http_date(stored.last_updated),
            "Content-Location": f"{base_url}/{stored.resource_type}/{stored.resource_id}"
                                f"/_history/{stored.version}"}


def write_response(ctx: RequestContext, result: EntryResult) -> Response:
    """Answer a create / update / delete according to `Prefer: return=`."""
    headers: dict = {}
    stored = result.stored
    if stored is not None and not stored.deleted:
        headers = version_headers(stored, ctx.base_url)
        if result.outcome is Outcome.CREATED:
            headers["Location"] = headers["Content-Location"]
    elif stored is not None:
        headers = {"ETag": f'W/"{stored.version}"'}
    ret = prefer(request).get("return", "representation")
    if stored is None or stored.deleted:  # a delete (or one that found nothing to delete)
        if ret == "OperationOutcome":
            return outcome_response(list(result.issues), 200, headers)
        return Response(status=204, headers=headers)
    if ret == "minimal":
        return Response(status=result.status, headers=headers)
    if ret == "OperationOutcome":
        return outcome_response(list(result.issues) or [information("informational", "OK")],
                                result.status, headers)
    return fhir_response(stored.content, result.status, headers)


# -- system level ---------------------------------------------------------------------------
def metadata():
    ctx = context()
    return fhir_response(services().capabilities.capabilities(
        ctx, [r.interaction for r in ROUTES if r.interaction],
        [r.operation + (_rule_type(r.rule),) for r in ROUTES if r.operation]))


def _rule_type(rule) -> str | None:
    """`/Patient/<pid>/$everything` -> Patient: the one type an operation route serves."""
    first = (rule if isinstance(rule, str) else rule[0]).strip("/").split("/")[0]
    return None if not first or first.startswith(("<", "$")) else first


def transaction():
    body = parse_json(request_json(request))
    return_resources = prefer(request).get("return") == "representation"
    return fhir_response(services().resources.bundle(context(), body, return_resources))


def search_system():
    return fhir_response(services().search.search(context(), None, query_pairs()))


def history_system():
    return fhir_response(services().resources.history(context(), None, None, query_pairs()))


# -- type level -----------------------------------------------------------------------------
# Query parameters of the response format, never search criteria.
FORMAT_PARAMS = ("_format", "_pretty")


def create(rtype):
    """POST Type; `POST Type?criteria` (how fhirpy sends a conditional create) is the same as
    `If-None-Exist: criteria`."""
    check_type(rtype)
    body = request_json(request)
    ctx = context()
    criteria = [(k, v) for k, v in query_pairs() if k not in FORMAT_PARAMS]
    if_none_exist = request.headers.get("If-None-Exist")
    if criteria and if_none_exist:
        raise OperationOutcomeError(error(
            "invalid", "Give the conditional-create criteria once: in If-None-Exist or in the "
            "query string, not both"), 400)
    return write_response(ctx, services().resources.create(
        ctx, rtype, body, if_none_exist or (urlencode(criteria) if criteria else None)))


def search_type(rtype):
    return fhir_response(services().search.search(context(), rtype, query_pairs()))


def search_post(rtype):
    """POST search: form body parameters, plus any in the url."""
    check_type(rtype)
    ctype = request.mimetype or ""
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise OperationOutcomeError(error(
            "not-supported", f"POST _search takes application/x-www-form-urlencoded, not "
            f"{ctype!r}"), 415)
    body = request_body(request).decode("utf-8", "replace")
    params = query_pairs() + parse_qsl(body, keep_blank_values=True)
    return fhir_response(services().search.search(context(), rtype, params))


def compartment_search(ctype, cid, rtype):
    check_type(ctype)
    return fhir_response(services().search.search(context(), rtype, query_pairs(),
                                                  compartment=(ctype, cid)))


def observation_lastn():
    return fhir_response(services().lastn.lastn(context(), query_pairs()))


def patient_everything(pid):
    return fhir_response(services().search.everything(context(), pid, query_pairs()))


def conditional_update(rtype):
    check_type(rtype)
    ctx = context()
    return write_response(ctx, services().resources.conditional_update(
        ctx, rtype, query_pairs(), request_json(request), request.headers.get("If-Match")))


def conditional_delete(rtype):
    check_type(rtype)
    query = query_pairs()
    if not query:
        raise OperationOutcomeError(error(
            "not-supported", "DELETE on a type needs search criteria (conditional delete)"), 405)
    ctx = context()
    return write_response(ctx, services().resources.conditional_delete(ctx, rtype, query))


def conditional_patch(rtype):
    ctx = context()
    return write_response(ctx, services().resources.conditional_patch(
        ctx, rtype, query_pairs(), request.mimetype, request_body(request),
        request.headers.get("If-Match")))


def history_type(rtype):
    return fhir_response(services().resources.history(context(), rtype, None, query_pairs()))


# -- instance level -------------------------------------------------------------------------
def read(rtype, rid):
    ctx = context()
    rep = services().resources.read(ctx, rtype, rid, request.args.get("_summary"),
                                    request.args.get("_elements"))
    stored = rep.stored
    headers = version_headers(stored, ctx.base_url)
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
    return fhir_response(rep.body, 200, headers)


def update(rtype, rid):
    check_type(rtype)
    body = parse_json(request_json(request))
    ctx = context()
    return write_response(ctx, services().resources.update(
        ctx, rtype, rid, body, request.headers.get("If-Match")))


def patch(rtype, rid):
    ctx = context()
    return write_response(ctx, services().resources.patch(
        ctx, rtype, rid, request.mimetype, request_body(request),
        request.headers.get("If-Match")))


def delete(rtype, rid):
    ctx = context()
    return write_response(ctx, services().resources.delete(
        ctx, rtype, rid, request.headers.get("If-Match")))


def history_instance(rtype, rid):
    return fhir_response(services().resources.history(context(), rtype, rid, query_pairs()))


def vread(rtype, rid, vid):
    ctx = context()
    rep = services().resources.vread(ctx, rtype, rid, vid, request.args.get("_summary"),
                                     request.args.get("_elements"))
    return fhir_response(rep.body, 200, version_headers(rep.stored, ctx.base_url))


def validate_type(rtype):
    return _validate(rtype, None)


def validate_instance(rtype, rid):
    return _validate(rtype, rid)


def _validate(rtype: str, rid: str | None):
    check_type(rtype)
    body = parse_json(request_json(request))
    issues = services().validate.validate(context(), rtype, rid, body)
    return outcome_response(issues, 200, ok_message="No issues detected during validation")


# -- analytics ------------------------------------------------------------------------------
STATISTICS_TYPES = ("application/json", "text/csv", "image/svg+xml")


def ssc_classification(pid):
    ctx = context()
    persist = request.args.get("persist", "false").lower() == "true"
    obs = services().analytics.ssc_classification(ctx, pid, persist,
                                                  request.args.get("effective"))
    return fhir_response(obs, 201 if persist else 200)


def cohort_statistics():
    from ..analytics import statistics_csv, statistics_svg
    study = request.args.get("study")
    ident = tuple(study.split("|", 1)) if study and "|" in study else None
    if study and ident is None:
        raise OperationOutcomeError(error(
            "invalid", "study takes the ResearchStudy identifier as system|value", "study"), 400)
    stats = services().analytics.cohort_statistics(context(), ident)
    mimetype = negotiated().mimetype
    if mimetype == "text/csv":
        body = statistics_csv(stats).encode()
    elif mimetype == "image/svg+xml":
        body = statistics_svg(stats).encode()
    else:
        import orjson
        from ..jsontext import default
        body = orjson.dumps(stats, option=orjson.OPT_INDENT_2 if negotiated().pretty else 0,
                            default=default)
    return Response(body, 200, content_type=f"{mimetype}; charset=utf-8")


# -- HL7 v2 ---------------------------------------------------------------------------------
HL7V2_TYPES = ("x-application/hl7-v2+er7", "application/hl7-v2", "text/plain", "")


def hl7v2_body() -> bytes:
    ctype = (request.mimetype or "").lower()
    if ctype not in HL7V2_TYPES:
        raise OperationOutcomeError(error(
            "not-supported", f"Content-Type {ctype!r} is not an HL7 v2 message: send "
            "x-application/hl7-v2+er7 (or text/plain)"), 415)
    data = request.get_data(cache=True)
    if not data.strip():
        raise OperationOutcomeError(error("required", "The request has no body; an HL7 v2 "
                                          "message was expected"), 400)
    return data


def convert_hl7v2():
    from ..services.hl7v2 import DOOR_HL7V2
    ctx = context().with_(door=DOOR_HL7V2)
    converted = services().hl7v2.convert(ctx, hl7v2_body())
    return fhir_response(converted.bundle)


def process_hl7v2():
    from ..services.hl7v2 import DOOR_HL7V2
    ctx = context().with_(door=DOOR_HL7V2)
    ack = services().hl7v2.process(ctx, hl7v2_body())
    return Response(ack.ack.encode("utf-8"), ack.status,
                    content_type="x-application/hl7-v2+er7; charset=utf-8")


# -- the route table ------------------------------------------------------------------------
from .remote_views import PULL_DEFINITION, remote_pull, remote_pull_status  # noqa: E402
@dataclass(frozen=True)
class Route:
    rule: str | tuple[str, ...]
    method: str
    view: Callable
    interaction: tuple[str, str] | None = None           # (code, level) for the statement
    operation: tuple[str, str, str] | None = None        # (name, level, definition)
    produces: tuple[str, ...] | None = None              # not FHIR resources: these types


EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
GUIDE_OPS = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/"

ROUTES: tuple[Route, ...] = (
    Route("/metadata", "GET", metadata, ("capabilities", "system")),
    Route(("/", ""), "POST", transaction, ("transaction", "system")),
    Route(("/", ""), "POST", transaction, ("batch", "system")),
    Route(("/", ""), "GET", search_system, ("search-system", "system")),
    Route("/_history", "GET", history_system, ("history-system", "system")),
    Route("/<rtype>", "POST", create, ("create", "type")),
    Route("/<rtype>", "GET", search_type, ("search-type", "type")),
    Route("/<rtype>/_search", "POST", search_post),
    Route("/<rtype>", "PUT", conditional_update),
    Route("/<rtype>", "DELETE", conditional_delete),
    Route("/<rtype>", "PATCH", conditional_patch),
    Route("/<rtype>/_history", "GET", history_type, ("history-type", "type")),
    Route("/Patient/<pid>/$everything", "GET", patient_everything,
          operation=("everything", "instance", EVERYTHING)),
    Route("/Observation/$lastn", "GET", observation_lastn,
          operation=("lastn", "type", LASTN)),
    Route("/Patient/<pid>/$ssc-classification", "GET", ssc_classification,
          operation=("ssc-classification", "instance", GUIDE_OPS + "ssc-classification")),
    Route("/$cohort-statistics", "GET", cohort_statistics,
          operation=("cohort-statistics", "system", GUIDE_OPS + "cohort-statistics"),
          produces=STATISTICS_TYPES),
    Route("/$remote-pull", "POST", remote_pull,
          operation=("remote-pull", "system", PULL_DEFINITION)),
    Route("/$remote-pull/<job_id>", "GET", remote_pull_status),
    Route("/$convert-hl7v2", "POST", convert_hl7v2,
          operation=("convert-hl7v2", "system", GUIDE_OPS + "convert-hl7v2")),
    Route("/$process-hl7v2", "POST", process_hl7v2,
          operation=("process-hl7v2", "system", GUIDE_OPS + "process-hl7v2"),
          produces=("x-application/hl7-v2+er7",)),
    Route("/$export", "GET", bulk.export_system,
          operation=("export", "system", bulk.BULK_EXPORT)),
    Route("/$export", "POST", bulk.export_system),
    Route("/Patient/$export", "GET", bulk.export_patient,
          operation=("export", "type", bulk.PATIENT_EXPORT)),
    Route("/Patient/$export", "POST", bulk.export_patient),
    Route("/Group/<gid>/$export", "GET", bulk.export_group,
          operation=("export", "instance", bulk.GROUP_EXPORT)),
    Route("/Group/<gid>/$export", "POST", bulk.export_group),
    Route("/$export-poll/<poll_id>", "GET", bulk.export_poll),
    Route("/$export-poll/<poll_id>", "DELETE", bulk.export_cancel),
    Route("/$export-file/<poll_id>/<name>", "GET", bulk.export_file,
          produces=bulk.NDJSON_TYPES),
    Route("/$registry-export", "GET", registry.registry_export,
          operation=("registry-export", "system", registry.GUIDE_OPS + "registry-export"),
          produces=registry.CSV_TYPES),
    Route("/$registry-import", "POST", registry.registry_import,
          operation=("registry-import", "system", registry.GUIDE_OPS + "registry-import")),
    Route("/<rtype>/$validate", "POST", validate_type,
          operation=("validate", "type", VALIDATE_DEFINITION)),
    Route("/<rtype>/<rid>/$validate", "POST", validate_instance,
          operation=("validate", "instance", VALIDATE_DEFINITION)),
    Route("/<ctype>/<cid>/<rtype>", "GET", compartment_search),
    Route("/<rtype>/<rid>", "GET", read, ("read", "instance")),
    Route("/<rtype>/<rid>", "PUT", update, ("update", "instance")),
    Route("/<rtype>/<rid>", "DELETE", delete, ("delete", "instance")),
    Route("/<rtype>/<rid>", "PATCH", patch, ("patch", "instance")),
    Route("/<rtype>/<rid>/_history", "GET", history_instance, ("history-instance", "instance")),
    Route("/<rtype>/<rid>/_history/<vid>", "GET", vread, ("vread", "instance")),
)


def make_blueprint() -> Blueprint:
    bp = Blueprint("fhir", __name__)
    produces: dict[str, tuple[str, ...] | None] = {}
    seen: set = set()
    for r in ROUTES:
        for rule in (r.rule,) if isinstance(r.rule, str) else r.rule:
            if (rule, r.method) in seen:
                continue  # one view answers several interactions (transaction / batch)
            seen.add((rule, r.method))
            endpoint = f"{r.view.__name__}:{rule}:{r.method}"
            produces[f"{bp.name}.{endpoint}"] = r.produces
            bp.add_url_rule(rule, endpoint=endpoint, view_func=r.view, methods=[r.method])
    bp.before_request(authenticate)  # 401 / 429 / 413 before anything else (api/security)
    bp.before_request(lambda: negotiate(produces.get(request.endpoint)))
    bp.after_request(security_after)
    return bp
