"""What arrives on the wire, checked one way everywhere: JSON text, resource types, ids, versions.

Every door (REST body, Bundle entry, CLI file, converter output) uses these, so a malformed
body, an unknown type or a bad id gives the same error code, status and message wherever it is
found.
"""
from __future__ import annotations

import re

import orjson

from . import jsontext
from .outcomes import OperationOutcomeError, error
from .resource_types import RESOURCE_TYPES

# FHIR id: 1-64 characters from A-Z a-z 0-9 - . (R4 datatypes.html#id)
ID_PATTERN = r"[A-Za-z0-9\-.]{1,64}"
ID_RE = re.compile(f"^{ID_PATTERN}$")


class JsonSyntaxError(ValueError):
    """JSON text that does not parse, located as a person counts: line and column from 1."""

    def __init__(self, msg: str, line: int, column: int):
        super().__init__(f"{msg} at line {line}, column {column}")
        self.msg, self.line, self.column = msg, line, column


def decode_json(raw: bytes | bytearray | str) -> object:
    """The one JSON parser of the service (orjson): objects, or JsonSyntaxError."""
    try:
        return jsontext.loads(raw)     # exact decimals (fhirsvc.jsontext)
    except orjson.JSONDecodeError as exc:
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        if exc.pos is not None:
            line = text.count("\n", 0, exc.pos) + 1
            column = exc.pos - (text.rfind("\n", 0, exc.pos) + 1) + 1
        else:
            line, column = exc.lineno, exc.colno
        raise JsonSyntaxError(exc.msg, line, column) from None


def parse_json(body: bytes | str, where: str = "") -> object:
    """JSON text -> Python objects, or a 400 naming line and column."""
    try:
        return decode_json(body)
    except JsonSyntaxError as exc:
        raise OperationOutcomeError(
            error("structure", f"The body is not valid JSON: {exc}",
                  *(where and [where] or [])), 400) from None


def is_type(rtype: object) -> bool:
    return isinstance(rtype, str) and rtype in RESOURCE_TYPES


def check_type(rtype: object, where: str = "") -> str:
    """An R4 resource type, or 404 not-supported: the one answer for an unknown type, whether
    it is in the URL or in a Bundle entry's request."""
    if not is_type(rtype):
        raise OperationOutcomeError(error(
            "not-supported", f"Unknown resource type {rtype!r} (this is a FHIR R4 server)",
            *(where and [where] or [])), 404)
    return rtype  # type: ignore[return-value]


def is_id(rid: object) -> bool:
    return isinstance(rid, str) and ID_RE.match(rid) is not None


def check_id(rid: object, where: str = "") -> str:
    if not is_id(rid):
        raise OperationOutcomeError(error(
            "invalid", f"Invalid resource id {rid!r}: 1-64 characters A-Z a-z 0-9 - .",
            *(where and [where] or [])), 400)
    return rid  # type: ignore[return-value]


def parse_version(value: str | None, where: str = "") -> int | None:
    """An ETag / ifMatch value (`W/"3"`, `"3"` or `3`) -> 3; None or "" stays None; else 400."""
    if value is None or value == "":
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    if not v.isdigit():
        raise OperationOutcomeError(error(
            "invalid", f"Malformed version {value!r} (If-Match / ETag takes W/\"n\")",
            *(where and [where] or [])), 400)
    return int(v)


def resource_body(rtype: str, body: object, where: str = "") -> dict:
    """A request body that must be one resource of `rtype` (parsed when it is still text)."""
    check_type(rtype, where)
    if isinstance(body, (bytes, bytearray, str)):
        body = parse_json(body)
    if not isinstance(body, dict):
        raise OperationOutcomeError(error(
            "structure", "The body must be a JSON object (a FHIR resource)",
            *(where and [where] or [])), 400)
    if body.get("resourceType") != rtype:
        raise OperationOutcomeError(error(
            "invalid", f"The body is a {body.get('resourceType')!r} but the url names "
            f"{rtype!r}", f"{where}.resourceType" if where else "resourceType"), 400)
    return body
