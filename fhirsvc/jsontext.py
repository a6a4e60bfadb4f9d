"""Stored JSON text embedded in responses without re-serialising it.

`RawJson(text)` marks text that goes into a bundle verbatim (orjson.Fragment does the
embedding); only `_pretty` output needs it parsed, to indent it.
"""
from __future__ import annotations

import orjson


class RawJson:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def parse(self):
        return orjson.loads(self.text)


def _default(obj):
    if isinstance(obj, RawJson):
        return orjson.Fragment(obj.text)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _parsed(node):
    if isinstance(node, RawJson):
        return node.parse()
    if isinstance(node, dict):
        return {k: _parsed(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_parsed(v) for v in node]
    return node


def dumps(obj, pretty: bool = False) -> bytes:
    if pretty:
        return orjson.dumps(_parsed(obj), option=orjson.OPT_INDENT_2) + b"\n"
    return orjson.dumps(obj, default=_default)

