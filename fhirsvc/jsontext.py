"""JSON text in and out, with decimals kept exactly; stored JSON embedded without
re-serialising it.

FHIR decimals keep their exact value and precision (`1.10` is not `1.1`, and
`12345678901234567.1` is not a double). orjson parses numbers into floats, so `loads` checks
each number with a fraction or an exponent that stands in a value position: when orjson would
write every one of them back as it was written, orjson's result is exact (the usual case, at
orjson's speed); otherwise the text is parsed again by the standard library with each such
number as a `DecimalText`: a float (validation, FHIRPath and search use it as a number) that
carries its text, which `dumps` writes back verbatim (orjson.Fragment).

`RawJson(text)` marks text that goes into a bundle verbatim (orjson.Fragment does the
embedding); only `_pretty` output needs it parsed, to indent it.
"""
from __future__ import annotations

import json
import re

import orjson

# the tail of a JSON number with a fraction or an exponent (after a digit), followed by what
# ends a value; the few hits are checked below. Patterns that start with a literal byte, which
# the regex engine scans for quickly: one starting with the digit class tried every digit of
# the dates and ids (~20 us per ingested Synthea resource).
_TAILS = (re.compile(rb"\.[0-9]+(?:[eE][-+]?[0-9]+)?(?=[\s,}\]])"),
          re.compile(rb"e[-+]?[0-9]+(?=[\s,}\]])"), re.compile(rb"E[-+]?[0-9]+(?=[\s,}\]])"))
_DIGITS = frozenset(b"0123456789")
_VALUE_START = b":,["
_NUMBER_CHARS = frozenset(b"0123456789-+.eE")


class DecimalText(float):
    """A JSON number as written: a float that remembers its text."""

    def __new__(cls, text: str):
        obj = float.__new__(cls, text)
        obj.text = text
        return obj

    def __getnewargs__(self):          # copy / deepcopy / pickle rebuild it from its text
        return (self.text,)


def _lossless(raw) -> bool:
    """Whether orjson writes every decimal of `raw` back exactly as written there. Only
    numbers in a value position count (after ':' ',' '[' and blanks): "10:00:00.123Z" in a
    string is not one; a string that happens to look like one only costs the exact parse."""
    if isinstance(raw, str):
        raw = raw.encode()
    raw = bytes(raw)
    ends: dict[int, int] = {}   # where a number's fraction or exponent ends -> where it starts
    for pattern in _TAILS:
        for m in pattern.finditer(raw):
            if m.start() and raw[m.start() - 1] in _DIGITS:
                ends.setdefault(m.end(), m.start())
    for end, tail in ends.items():
        start = tail
        while start > 0 and raw[start - 1] in _NUMBER_CHARS:
            start -= 1
        before = start - 1
        while before >= 0 and raw[before] in b" \t\r\n":
            before -= 1
        if before < 0 or raw[before] not in _VALUE_START:
            continue
        tok = raw[start:end]
        try:
            if orjson.dumps(float(tok)) != tok:
                return False
        except ValueError:
            return False          # not a plain number after all: let the exact parse decide
    return True


def loads(raw):
    """orjson.loads, exact for decimals (orjson.JSONDecodeError for invalid JSON)."""
    value = orjson.loads(raw)
    if _lossless(raw):
        return value
    text = bytes(raw).decode("utf-8") if not isinstance(raw, str) else raw
    return json.loads(text, parse_float=DecimalText)


class RawJson:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def parse(self):
        return loads(self.text)


def _default(obj):
    if isinstance(obj, RawJson):
        return orjson.Fragment(obj.text)
    if isinstance(obj, DecimalText):
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


# for orjson.dumps(..., default=jsontext.default) of anything that may hold resource values
default = _default


def dumps(obj, pretty: bool = False) -> bytes:
    if pretty:
        return orjson.dumps(_parsed(obj), option=orjson.OPT_INDENT_2, default=_default) + b"\n"
    return orjson.dumps(obj, default=_default)


def dumps_text(obj) -> str:
    """Compact JSON text (stored versions), decimals as they were written."""
    return orjson.dumps(obj, default=_default).decode()

