"""Fixed, pattern, minValue / maxValue and maxLength (value scope)."""
from __future__ import annotations

import datetime as _dt
import json

from ..primitives import date_key
from ..run import issue
from .units import compare_quantities


def short(v) -> str:
    s = json.dumps(v, separators=(",", ":"))
    return s if len(s) < 120 else s[:117] + "..."


def fixed(value, element, type_code, location, run):
    """The value is exactly the fixed value (no more elements, no fewer)."""
    if value is None:
        return ()
    out: list = []
    _fixed(value, element.fixed[1], location, element.source(), out)
    return out


def _fixed(value, want, location, source, out):
    if isinstance(want, dict):
        if not isinstance(value, dict):
            out.append(issue("error", "value", "The value does not match the fixed value",
                             location, source))
            return
        for k in value:
            if k not in want:
                out.append(issue("error", "value",
                                 f"The element {k} is present in the instance but not allowed "
                                 f"in the applicable fixed value specified in profile",
                                 f"{location}.{k}", source))
        for k, fv in want.items():
            if k not in value:
                out.append(issue("error", "value",
                                 f"Missing element '{k}' - required by fixed value", location,
                                 source))
            else:
                _fixed(value[k], fv, f"{location}.{k}", source, out)
        return
    if isinstance(want, list):
        if not isinstance(value, list) or len(value) != len(want):
            out.append(issue("error", "value", "The value does not match the fixed value",
                             location, source))
            return
        for i, (a, b) in enumerate(zip(value, want)):
            _fixed(a, b, f"{location}[{i}]", source, out)
        return
    if value != want or type(value) is bool and type(want) is not bool:
        out.append(issue("error", "value", f"Value is '{value}' but must be '{want}'", location,
                         source))


def matches_pattern(value, pattern) -> bool:
    """FHIR pattern semantics: every element of the pattern is present in the value; arrays
    match when each pattern item matches some value item."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(k in value and matches_pattern(value[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        return all(any(matches_pattern(v, p) for v in value) for p in pattern)
    return value == pattern


def pattern(value, element, type_code, location, run):
    """The value contains the pattern."""
    if value is None or matches_pattern(value, element.pattern[1]):
        return ()
    return (issue("error", "value",
                  f"The value does not match the pattern required by the profile "
                  f"({short(element.pattern[1])})", location, element.source()),)


_UCUM_TIME = {"a": 365.25 * 86400, "mo": 30.4375 * 86400, "wk": 7 * 86400, "d": 86400,
              "h": 3600, "min": 60, "s": 1}


def min_max(value, element, type_code, location, run):
    """minValue[x] / maxValue[x]: numbers, dates, quantities of the same unit, and a Duration
    bound on a date (relative to now)."""
    if value is None:
        return ()
    out = []
    for bound, is_min in ((element.min_value, True), (element.max_value, False)):
        if bound is None:
            continue
        btype, bval = bound
        bad = False
        shown = bval
        if btype in ("Integer", "Decimal", "PositiveInt", "UnsignedInt"):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                bad = value < bval if is_min else value > bval
        elif btype in ("Date", "DateTime", "Instant") and isinstance(value, str):
            a, b = date_key(value), date_key(bval)
            if a is not None and b is not None:
                bad = a < b if is_min else a > b
        elif btype in ("Quantity", "Duration", "Age", "Count", "Distance") and isinstance(bval, dict):
            if isinstance(value, dict):
                # same units, or UCUM units of one dimension after conversion (-1 g < 0 kg)
                cmp, _why = compare_quantities(value, bval)
                if cmp is not None:
                    bad = cmp < 0 if is_min else cmp > 0
            elif isinstance(value, str) and bval.get("code") in _UCUM_TIME:
                # a Duration bound on a date counts from now: a minimum lies that long before
                # now, a maximum that long after (ElementDefinition.minValue[x]/maxValue[x])
                a = date_key(value)
                secs = _UCUM_TIME[bval["code"]] * float(bval.get("value", 0))
                delta = _dt.timedelta(seconds=secs)
                ref = _dt.datetime.now() - delta if is_min else _dt.datetime.now() + delta
                shown = (f"{bval.get('value')} {bval.get('code')} "
                         f"{'before' if is_min else 'after'} now")
                if a is not None:
                    bad = a < ref if is_min else a > ref
        if bad:
            out.append(issue("error", "invalid",
                             f"The value is {'less' if is_min else 'greater'} than the permitted "
                             f"{'minimum' if is_min else 'maximum'} value of {short(shown)}",
                             location, element.source()))
    return out


def max_length(value, element, type_code, location, run):
    """A string no longer than maxLength."""
    if isinstance(value, str) and len(value) > element.max_length:
        return (issue("error", "too-long",
                      f"The value exceeds the allowed length {element.max_length}", location,
                      element.source()),)
    return ()
