"""JSON text -> resource, with syntax errors located by line and column."""
from __future__ import annotations

import orjson

from ..outcomes import Issue


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def parse_json(raw: bytes | bytearray | str) -> tuple[dict | None, list[Issue]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        line, col = _line_col(text, exc.pos) if exc.pos is not None else (exc.lineno, exc.colno)
        msg = exc.msg if hasattr(exc, "msg") else str(exc)
        return None, [Issue("fatal", "structure",
                            f"Error parsing JSON: {msg} at line {line}, column {col}",
                            (), f"line {line}, column {col}")]
    if not isinstance(data, dict):
        return None, [Issue("fatal", "structure", "The JSON content must be an object")]
    if "resourceType" not in data:
        return None, [Issue("fatal", "structure", "Unable to find resourceType property")]
    return data, []
