"""Content negotiation and response building: formats (FHIR JSON and FHIR XML), _pretty, Prefer.

The response format is negotiated before a view runs (`negotiate`, a before-request hook), so
a request whose `Accept` or `_format` cannot be served gets its 406 before anything is stored.
Stored JSON text is embedded as is (orjson.Fragment) unless the client asks for a changed
representation (_pretty, _summary, _elements).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
from flask import Request, Response, g, request

from ..jsontext import RawJson, dumps
from ..outcomes import OperationOutcomeError, error, fail, operation_outcome

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir",
              "text/json")
XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir")
FORMAT_ALIASES = {"json": FHIR_JSON, "application/json": "application/json",
                  "application/fhir+json": FHIR_JSON, "application/json+fhir": FHIR_JSON,
                  "text/json": "application/json",
                  "xml": FHIR_XML, "application/fhir+xml": FHIR_XML,
                  "application/xml+fhir": FHIR_XML, "application/xml": "application/xml",
                  "text/xml": "text/xml"}


@dataclass(frozen=True)
class Format:
    mimetype: str
    pretty: bool

    @property
    def xml(self) -> bool:
        return self.mimetype in XML_TYPES


def response_mimetype(req: Request) -> str:
    """The media type to answer with (FHIR JSON or FHIR XML); 406 when the client accepts
    only what we lack."""
    fmt = req.args.get("_format")
    if fmt:
        # an unencoded '+' arrives as a space ("application/fhir json")
        mt = FORMAT_ALIASES.get(fmt.split(";")[0].strip().lower().replace(" ", "+"))
        if mt is None:
            raise OperationOutcomeError(error(
                "not-supported", f"_format {fmt!r} is not supported; this server speaks "
                "application/fhir+json (json) and application/fhir+xml (xml)", "_format"), 406)
        return mt
    accept = req.accept_mimetypes
    if not accept or accept.provided is False:
        return FHIR_JSON
    best = accept.best_match([FHIR_JSON, "application/json", "application/json+fhir",
                              FHIR_XML, "application/xml", "text/xml", "application/xml+fhir"])
    if best is None:
        if any(value in ("*/*", "application/*") and q > 0 for value, q in accept):
            return FHIR_JSON
        raise OperationOutcomeError(error(
            "not-supported", f"Cannot produce {req.headers.get('Accept')!r}; this server "
            "speaks application/fhir+json and application/fhir+xml"), 406)
    if best == "application/json+fhir":
        return FHIR_JSON
    return FHIR_XML if best == "application/xml+fhir" else best


def offered_mimetype(req: Request, offered: tuple[str, ...]) -> str:
    """For views that answer other media types (CSV, SVG, plain JSON): the best of `offered`
    by `_format` (a media type or its short name) or `Accept`; the first when none is asked."""
    short = {mt.split("/")[1].split("+")[0]: mt for mt in offered}
    fmt = req.args.get("_format")
    if fmt:
        key = fmt.split(";")[0].strip().lower().replace(" ", "+")
        mt = key if key in offered else short.get(key)
        if mt is None:
            raise OperationOutcomeError(error(
                "not-supported", f"_format {fmt!r} is not offered here; use one of "
                f"{', '.join(offered)}", "_format"), 406)
        return mt
    accept = req.accept_mimetypes
    if not accept or accept.provided is False:
        return offered[0]
    best = accept.best_match(list(offered))
    if best is None:
        raise OperationOutcomeError(error(
            "not-supported", f"Cannot produce {req.headers.get('Accept')!r}; this operation "
            f"answers {', '.join(offered)}"), 406)
    return best


def negotiate(offered: tuple[str, ...] | None = None) -> None:
    """Before any view: decide the response format (or answer 406 before any work)."""
    mimetype = offered_mimetype(request, offered) if offered else response_mimetype(request)
    g.fhir_format = Format(mimetype, request.args.get("_pretty", "").lower() == "true")


def negotiated() -> Format:
    return _format()


def _format() -> Format:
    fmt = getattr(g, "fhir_format", None)
    if fmt is None:  # an error raised before negotiation, or by negotiation itself
        try:
            fmt = Format(response_mimetype(request),
                         request.args.get("_pretty", "").lower() == "true")
        except OperationOutcomeError:
            fmt = Format(FHIR_JSON, False)  # an error about formats is still answered in JSON
    return fmt


def request_json(req: Request) -> bytes:
    """The request body as JSON text, after checking its media type (415 for anything but
    FHIR JSON or FHIR XML). An XML body is read into JSON here (fhirsvc.xml), so everything
    behind this sees JSON; XML that is malformed, has a DTD or is not FHIR is a 400."""
    ctype = (req.mimetype or "").lower()
    if ctype and ctype not in JSON_TYPES and ctype not in XML_TYPES:
        raise OperationOutcomeError(error(
            "not-supported", f"Content-Type {ctype!r} is not supported: send "
            "application/fhir+json or application/fhir+xml"), 415)
    data = request_body(req)
    if not data.strip():
        raise fail(400, "required", "The request has no body; a FHIR resource was expected")
    if ctype in XML_TYPES:
        from ..xml import XmlFormatError, xml_to_json
        try:
            return xml_to_json(data)
        except XmlFormatError as exc:
            raise OperationOutcomeError(error(
                "structure", f"The body is not valid FHIR XML: {exc}",
                *([exc.path] if exc.path else [])), 400) from None
    return data


def request_body(req: Request) -> bytes:
    """The body as sent, or 408 when the client took longer than the server allows
    (`fhirsvc.serving.BodyDeadline`) and 413 when a chunked body was cut at the size limit
    (Werkzeug stops reading there instead of failing)."""
    data = req.get_data(cache=True)
    if req.environ.get("fhirsvc.body_timed_out"):
        raise fail(408, "timeout", "The request body did not arrive in time; the server "
                   "stopped waiting for it")
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(data) >= limit:
        raise fail(413, "too-costly", f"The request body is larger than this server accepts "
                   f"({limit} bytes); split the bundle")
    return data


def prefer(req: Request) -> dict[str, str]:
    out = {}
    for header in req.headers.getlist("Prefer"):
        for part in re.split(r"[;,]", header):
            key, _, value = part.strip().partition("=")
            if key:
                out[key.strip().lower()] = value.strip().strip('"')
    return out


def _as_xml(data: bytes, pretty: bool) -> bytes:
    """The JSON response as FHIR XML (fhirsvc.xml), written last so every view, Bundle and
    OperationOutcome has the same XML form."""
    from ..xml import json_to_xml
    return json_to_xml(data, pretty=pretty)


def fhir_response(body, status: int = 200, headers: dict | None = None) -> Response:
    fmt = _format()
    if isinstance(body, str):
        body = RawJson(body)
    data = dumps(body, fmt.pretty and not fmt.xml) if body is not None else b""
    if body is not None and fmt.xml:
        data = _as_xml(data, fmt.pretty)
    return Response(data, status=status, headers=headers or {},
                    content_type=f"{fmt.mimetype}; charset=utf-8" if body is not None else None)


def outcome_response(issues, status: int, headers: dict | None = None,
                     ok_message: str | None = None) -> Response:
    fmt = _format()
    if not fmt.xml and fmt.mimetype not in JSON_TYPES:
        # an operation answering CSV, NDJSON, SVG or HL7 v2 still reports errors as FHIR
        fmt = Format(FHIR_JSON, fmt.pretty)
    body = orjson.dumps(operation_outcome(issues, ok_message),
                        option=orjson.OPT_INDENT_2 if fmt.pretty and not fmt.xml else 0)
    if fmt.xml:
        body = _as_xml(body, fmt.pretty)
    return Response(body, status=status, headers=headers or {},
                    content_type=f"{fmt.mimetype}; charset=utf-8")
