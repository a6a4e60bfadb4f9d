"""Primitive formats of FHIR R4 (regexes from the specification's datatypes page).

Each checker takes the JSON value and returns None when valid or a message. Hand-written:
pydantic models accept type coercion ("72" as decimal) and give no FHIR wording.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import re

from ..wire import ID_PATTERN

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1

_ID = re.compile(ID_PATTERN)
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_UUID = re.compile(r"urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_DATE = re.compile(_YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?")
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATETIME = re.compile(_YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T" + _TIME
                       + r"(" + _TZ + r")?)?)?)?")
_INSTANT = re.compile(_YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T" + _TIME + _TZ)
_TIME_RE = re.compile(_TIME)
_DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_WS = re.compile(r"\s")
_UUID_LOWER = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_B64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def _date_exists(s: str) -> bool:
    parts = s[:10].split("-")
    if len(parts) == 3:
        try:
            y, m, d = int(parts[0]), int(parts[1]), int(parts[2][:2])
        except ValueError:
            return False
        return 1 <= d <= calendar.monthrange(y, m)[1]
    return True


def check_id(v):
    if not isinstance(v, str):
        return "must be a JSON string"
    if len(v) > 64:
        return f"Invalid Resource id: Too long ({len(v)} chars)"
    if not _ID.fullmatch(v):
        return f"Invalid Resource id: Invalid Characters ('{v}')"
    return None


# R4 string: `[ \r\n\t\S]+`, so no control characters but tab, CR and LF (a NUL would also
# be refused by PostgreSQL, so both databases answer the same 422 instead of a 500 there).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _string(v):
    if not isinstance(v, str):
        return "must be a JSON string"
    if v == "":
        return "@value cannot be empty"
    bad = None if v.isprintable() else _CONTROL.search(v)  # isprintable: the fast test
    if bad:
        return (f"contains the control character U+{ord(bad.group()):04X} at position "
                f"{bad.start()}; FHIR strings allow only tab, CR and LF")
    return None


def check_string(v):
    m = _string(v)
    if m:
        return m
    if len(v) > 1048576:
        return "value is longer than 1 MB"
    return None


def check_code(v):
    m = _string(v)
    if m:
        return m
    if not _CODE.fullmatch(v):
        return f"The code '{v}' is not valid (whitespace rules)"
    return None


def check_uri(v):
    m = _string(v)
    if m:
        return m
    if _WS.search(v):
        return f"URI values cannot have whitespace ('{v}')"
    if v.startswith("urn:uuid:") and not _UUID_LOWER.fullmatch(v):
        # RFC 4122 text form, and FHIR's uuid type is lowercase (datatypes.html#uuid)
        return f"UUIDs must be valid and lowercase ({v[9:]})"
    return None


def check_oid(v):
    m = check_uri(v)
    if m:
        return m
    return None if _OID.fullmatch(v) else f"'{v}' is not a valid OID"


def check_uuid(v):
    m = check_uri(v)
    if m:
        return m
    return None if _UUID.fullmatch(v) else f"'{v}' is not a valid UUID"


def check_date(v):
    m = _string(v)
    if m:
        return m
    if not _DATE.fullmatch(v) or not _date_exists(v):
        return f"Not a valid date format: '{v}'"
    return None


def check_datetime(v):
    m = _string(v)
    if m:
        return m
    if not _DATETIME.fullmatch(v):
        if "T" in v and _DATETIME.fullmatch(v.split("T")[0]) and re.fullmatch(
                _TIME, v.split("T", 1)[1]):
            return "If a date has a time, it must have a timezone"
        return f"Not a valid date/time format: '{v}'"
    if "T" in v and not re.search(_TZ + "$", v):
        return "If a date has a time, it must have a timezone"
    if not _date_exists(v):
        return f"Not a valid date/time ('{v}'): the date does not exist"
    return None


def check_instant(v):
    m = _string(v)
    if m:
        return m
    if not _INSTANT.fullmatch(v) or not _date_exists(v):
        return f"Not a valid instant: '{v}'"
    return None


def check_time(v):
    m = _string(v)
    if m:
        return m
    return None if _TIME_RE.fullmatch(v) else f"Not a valid time: '{v}'"


def check_boolean(v):
    return None if isinstance(v, bool) else "must be a JSON boolean (true or false)"


def check_integer(v, lo=INT32_MIN, hi=INT32_MAX):
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            return f"The value '{v}' is not a valid integer (no decimal point allowed)"
        return f"The value '{v}' is not a valid integer (must be a JSON number)"
    if v < lo:
        return f"The value {v} is below the minimum {lo}"
    if v > hi:
        return f"The value {v} is above the maximum {hi}"
    return None


def check_positive_int(v):
    return check_integer(v, 1)


def check_unsigned_int(v):
    return check_integer(v, 0)


def check_decimal(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"The value '{v}' is not a valid decimal (must be a JSON number)"
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "The value is not a valid decimal"
    return None


def check_base64(v):
    m = _string(v)
    if m:
        return m
    s = "".join(v.split())
    if not _B64.fullmatch(v) or len(s) % 4:
        return f"The value '{v}' is not a valid Base64 value"
    try:
        base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return f"The value '{v}' is not a valid Base64 value"
    return None


def check_xhtml(v):
    m = _string(v)
    if m:
        return m
    s = v.lstrip()
    if not s.startswith("<div"):
        return "The narrative must be an XHTML div element"
    return None


_MISS = object()


def _memo(checker, size: int = 8192):
    """A checker of string values with a bounded memo (codes, systems, dates and references
    repeat across resources; the verdict is a pure function of the string). Cleared when
    full: cheaper than LRU bookkeeping on every hit."""
    cache: dict = {}

    def check(v):
        if v.__class__ is not str or len(v) > 200:
            return checker(v)
        got = cache.get(v, _MISS)
        if got is _MISS:
            if len(cache) >= size:
                cache.clear()
            got = cache[v] = checker(v)
        return got
    check.__wrapped__ = checker
    check.__name__ = checker.__name__
    return check


CHECKERS = {
    "boolean": check_boolean,
    "integer": check_integer,
    "integer64": check_integer,
    "positiveInt": check_positive_int,
    "unsignedInt": check_unsigned_int,
    "decimal": check_decimal,
    "string": check_string,
    "markdown": check_string,
    "code": check_code,
    "id": check_id,
    "uri": check_uri,
    "url": check_uri,
    "canonical": check_uri,
    "oid": check_oid,
    "uuid": check_uuid,
    "date": check_date,
    "dateTime": check_datetime,
    "instant": check_instant,
    "time": check_time,
    "base64Binary": check_base64,
    "xhtml": check_xhtml,
}
CHECKERS.update({k: _memo(f) for k, f in CHECKERS.items()
                 if k not in ("boolean", "integer", "integer64", "positiveInt", "unsignedInt",
                              "decimal", "xhtml", "base64Binary")})

PRIMITIVES = frozenset(CHECKERS)


def is_primitive(type_code: str) -> bool:
    return type_code in CHECKERS


# ---------------------------------------------------------------- ordering (min/maxValue)
def date_key(v: str):
    """Comparable tuple for date/dateTime/instant values (precision-aware lower bound)."""
    import datetime as _dt
    try:
        if "T" in v:
            s = v.replace("Z", "+00:00")
            d = _dt.datetime.fromisoformat(s)
            if d.tzinfo is not None:
                d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return d
        parts = v.split("-")
        y = int(parts[0])
        m = int(parts[1]) if len(parts) > 1 else 1
        d = int(parts[2]) if len(parts) > 2 else 1
        return _dt.datetime(y, m, d)
    except (ValueError, IndexError):
        return None
