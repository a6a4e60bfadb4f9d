"""jsontext._lossless finds a number's fraction or exponent with literal-led patterns (fast
scan); it must decide exactly as the single digit-led pattern it replaced, kept here as the
reference, over real resources and over generated text full of near-numbers."""
from __future__ import annotations

import random
import re
from pathlib import Path

import orjson
import pytest

from fhirsvc import jsontext

SHARED = Path(__file__).resolve().parents[3] / "shared" / "conformance"
_REFERENCE = re.compile(rb"[0-9](?:\.[0-9]+|(?=[eE]))(?:[eE][-+]?[0-9]+)?(?=[\s,}\]])")


def reference_lossless(raw) -> bool:
    if isinstance(raw, str):
        raw = raw.encode()
    raw = bytes(raw)
    for m in _REFERENCE.finditer(raw):
        start = m.start()
        while start > 0 and raw[start - 1] in jsontext._NUMBER_CHARS:
            start -= 1
        before = start - 1
        while before >= 0 and raw[before] in b" \t\r\n":
            before -= 1
        if before < 0 or raw[before] not in b":,[":
            continue
        tok = raw[start:m.end()]
        try:
            if orjson.dumps(float(tok)) != tok:
                return False
        except ValueError:
            return False
    return True


@pytest.mark.parametrize("folder", ["synthea", "r4-examples"])
def test_same_decision_on_real_resources(folder):
    files = sorted((SHARED / folder).glob("*.json"))
    assert files
    decided = set()
    for f in files:
        raw = f.read_bytes()
        got = jsontext._lossless(raw)
        assert got == reference_lossless(raw), f.name
        decided.add(got)
    if folder == "r4-examples":
        assert decided == {True, False}   # both ways occur there (1.10, 1e3 ...)


PIECES = [b"1", b"0", b"12", b"-", b"+", b".", b"5", b"e", b"E", b"10", b"00", b":", b",",
          b"[", b"]", b"}", b"{", b" ", b"\n", b"\t", b'"', b"x", b"T", b"Z", b"1.10", b"1e3",
          b"2.5E-7", b"0.1", b"3.0", b"100.25", b"1.5e", b"12:00:00.123", b"-0.0"]


def test_same_decision_on_generated_text():
    rnd = random.Random(16)
    differ = []
    for _ in range(20000):
        raw = b"".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 14)))
        if jsontext._lossless(raw) != reference_lossless(raw):
            differ.append(raw)
    assert not differ, differ[:10]


@pytest.mark.parametrize("text, exact", [
    ('{"v": 1.10}', False), ('{"v": 1.5}', True), ('[1e3]', False), ('[1.5e3, 2]', False),
    ('{"t": "10:00:00.123Z"}', True), ('{"v": 12345678901234567.1}', False),
    ('{"v":-0.25 }', True), ('{"a": [0.1,\n 2.50]}', False)])
def test_decisions(text, exact):
    assert jsontext._lossless(text) is exact
    # and loads keeps the written text wherever orjson would not
    assert jsontext.dumps(jsontext.loads(text)) == orjson.dumps(orjson.loads(text)) or not exact
