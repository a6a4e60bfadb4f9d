"""Content negotiation and response building: formats, _pretty, Prefer, ETag headers.

Stored JSON text is embedded as is (orjson.Fragment) unless the client asks for a changed
representation (_pretty, _summary, _elements).
"""
from __future__ import annotations

import re

import orjson
from flask import Request, Response

from ..jsontext import RawJson, dumps
from ..outcomes import OperationOutcomeError, error, fail, operation_outcome

FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir",
              "text/json")
XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir")
FORMAT_ALIASES = {"json": FHIR_JSON, "application/json": "application/json",
                  "application/fhir+json": FHIR_JSON, "application/json+fhir": FHIR_JSON,
                  "text/json": "application/json"}


def response_mimetype(request: Request) -> str:
    """The JSON media type to answer with; 406 when the client accepts only what we lack."""
    fmt = request.args.get("_format")
    if fmt:
        # an unencoded '+' arrives as a space ("application/fhir json")
        mt = FORMAT_ALIASES.get(fmt.split(";")[0].strip().lower().replace(" ", "+"))
        if mt is None:
            raise OperationOutcomeError(error(
                "not-supported", f"_format {fmt!r} is not supported; this server speaks "
                "application/fhir+json (json)", "_format"), 406)
        return mt
    accept = request.accept_mimetypes
    if not accept or accept.provided is False:
        return FHIR_JSON
    best = accept.best_match([FHIR_JSON, "application/json", "application/json+fhir"])
    if best is None:
        if any(value in ("*/*", "application/*") and q > 0 for value, q in accept):
            return FHIR_JSON
        raise OperationOutcomeError(error(
            "not-supported", f"Cannot produce {request.headers.get('Accept')!r}; this server "
            "speaks application/fhir+json"), 406)
    return FHIR_JSON if best == "application/json+fhir" else best


def request_json(request: Request) -> bytes:
    """The request body, after checking its media type (415 for anything not JSON)."""
    ctype = (request.mimetype or "").lower()
    if ctype and ctype not in JSON_TYPES:
        if ctype in XML_TYPES:
            raise OperationOutcomeError(error(
                "not-supported", f"Content-Type {ctype} is not supported: send "
                "application/fhir+json"), 415)
        raise OperationOutcomeError(error(
            "not-supported", f"Content-Type {ctype!r} is not supported: send "
            "application/fhir+json"), 415)
    data = request.get_data(cache=True)
    if not data.strip():
        raise fail(400, "required", "The request has no body; a FHIR resource was expected")
    return data


def prefer(request: Request) -> dict[str, str]:
    out = {}
    for header in request.headers.getlist("Prefer"):
        for part in re.split(r"[;,]", header):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
    return out


def pretty(request: Request) -> bool:
    return request.args.get("_pretty", "").lower() == "true"


def fhir_response(request: Request, body, status: int = 200, headers: dict | None = None
                  ) -> Response:
    if isinstance(body, str):
        body = RawJson(body)
    data = dumps(body, pretty(request)) if body is not None else b""
    mimetype = response_mimetype(request)
    resp = Response(data, status=status, headers=headers or {},
                    content_type=f"{mimetype}; charset=utf-8" if body is not None else None)
    return resp


def outcome_response(request: Request, issues, status: int, headers: dict | None = None
                     ) -> Response:
    try:
        mimetype = response_mimetype(request)
    except OperationOutcomeError:
        mimetype = FHIR_JSON  # an error about formats is still answered in JSON
    body = orjson.dumps(operation_outcome(issues),
                        option=orjson.OPT_INDENT_2 if pretty(request) else 0)
    return Response(body, status=status, headers=headers or {},
                    content_type=f"{mimetype}; charset=utf-8")
