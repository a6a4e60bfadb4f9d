"""Limits on one search request, checked before anything is parsed or run.

A search with hundreds of parameters or thousands of OR-ed values, an `_offset` no database
integer holds, or `_include:iterate=*` over a large graph can hold a worker for minutes or
gigabytes; each is a clear 400 instead (all bounds configurable in `fhirsvc.config`). The
same check applies to conditional-operation criteria and to searches inside batches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..outcomes import fail

# what a request value may not contain: NUL and the other C0 controls but tab, CR and LF
# (PostgreSQL refuses NUL in text; FHIR strings do not allow them at all)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# numbers that must stay within a signed 64-bit integer for the database (and be sane)
_NUMERIC = ("_count", "_offset")


@dataclass(frozen=True)
class SearchLimits:
    max_parameters: int = 100       # name=value pairs in one request
    max_values: int = 500           # OR-ed values (comma separated) over all parameters
    max_offset: int = 1_000_000     # deeper paging is a 400 (use the next links)
    max_include_results: int = 2000  # resources added by _include / _revinclude rounds
    max_include_rounds: int = 4     # :iterate rounds
    # a search that does not ask for an exact total counts its matches up to this many and
    # leaves `total` out above it (docs/search.md, Totals): counting every match is linear
    total_cap: int = 1000


def check_params(params: list[tuple[str, str]], limits: SearchLimits) -> None:
    if len(params) > limits.max_parameters:
        raise fail(400, "too-costly", f"The search has {len(params)} parameters; at most "
                   f"{limits.max_parameters} are allowed in one request")
    values = 0
    for name, value in params:
        for text, what in ((name, "name"), (value, "value")):
            bad = _CONTROL.search(text)
            if bad:
                raise fail(400, "invalid", f"Search parameter {what} {name[:60]!r} contains the "
                           f"control character U+{ord(bad.group()):04X}", name[:60])
        values += value.count(",") + 1
        code = name.split(":", 1)[0]
        if code in _NUMERIC and value.isdigit():
            limit = limits.max_offset if code == "_offset" else 2 ** 31 - 1
            if int(value) > limit:
                raise fail(400, "too-costly" if code == "_offset" else "invalid",
                           f"{code}={value[:30]} is out of range (at most {limit})", code)
    if values > limits.max_values:
        raise fail(400, "too-costly", f"The search has {values} values; at most "
                   f"{limits.max_values} are allowed in one request")
