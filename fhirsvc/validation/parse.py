"""JSON text -> resource for the validator: syntax errors are fatal issues located by line and
column (the parser is the service's one, fhirsvc.wire.decode_json)."""
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
