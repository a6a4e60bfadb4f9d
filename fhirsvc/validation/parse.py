"""JSON or FHIR XML text -> resource for the validator: syntax errors are fatal issues located
by line and column (the parsers are the service's: fhirsvc.wire.decode_json, fhirsvc.xml)."""
from __future__ import annotations

from ..outcomes import Issue
from ..wire import JsonSyntaxError, decode_json


def parse_json(raw: bytes | bytearray | str) -> tuple[dict | None, list[Issue]]:
    try:
        data = decode_json(raw)
    except JsonSyntaxError as exc:
        where = f"line {exc.line}, column {exc.column}"
        return None, [Issue("fatal", "structure", f"Error parsing JSON: {exc.msg} at {where}",
                            (), where)]
    if not isinstance(data, dict):
        return None, [Issue("fatal", "structure", "The JSON content must be an object")]
    if "resourceType" not in data:
        return None, [Issue("fatal", "structure", "Unable to find resourceType property")]
    return data, []


def parse_xml(raw: bytes | bytearray | str, state) -> tuple[dict | None, list[Issue]]:
    from ..xml import XmlFormatError, xml_to_resource
    try:
        return xml_to_resource(bytes(raw) if isinstance(raw, bytearray) else raw, state), []
    except XmlFormatError as exc:
        where = f"line {exc.line}" if exc.line else ""
        return None, [Issue("fatal", "structure", f"Error parsing XML: {exc.msg}",
                            (exc.path,) if exc.path else (), where)]


def parse_input(raw: bytes | bytearray | str, state) -> tuple[dict | None, list[Issue]]:
    """JSON unless the text starts with '<' (FHIR XML)."""
    head = raw[:64].lstrip()
    if head[:1] in (b"<", "<"):
        return parse_xml(raw, state)
    return parse_json(raw)
