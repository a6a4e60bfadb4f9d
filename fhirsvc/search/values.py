"""Value normalisation shared by index extraction (write time) and query building (read time).

Dates become inclusive [low, high] bounds in microseconds UTC covering their precision
(`2021` -> the whole year); strings are lowercased and accent-stripped; references are split
into target type and id.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
import unicodedata
from datetime import date

MIN_TS = -(2 ** 62)
MAX_TS = 2 ** 62
MAX_LEN = 255

_EPOCH = date(1970, 1, 1).toordinal()
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_SEC = 1_000_000
_DAY = 86_400 * _SEC
DAY = _DAY


def normalise(text: str) -> str:
    """Case- and accent-insensitive form used by default string search."""
    if text.isascii():
        return text.lower()[:MAX_LEN]
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[:MAX_LEN]


def _days(y: int, m: int, d: int) -> int:
    return date(y, m, d).toordinal() - _EPOCH


def date_bounds(text: str) -> tuple[int, int] | None:
    """Inclusive [low, high] microseconds for a FHIR date/dateTime/instant, None if invalid."""
    m = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        year = int(y)
        if mo is None:
            high = _days(year + 1, 1, 1) * _DAY - 1 if year < 9999 else MAX_TS
            return _days(year, 1, 1) * _DAY, high
        month = int(mo)
        if d is None:
            ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
            return _days(year, month, 1) * _DAY, _days(ny, nm, 1) * _DAY - 1
        day = _days(year, month, int(d))
        if hh is None:
            return day * _DAY, (day + 1) * _DAY - 1
        h, mn = int(hh), int(mi)
        if h > 24 or mn > 59:
            return None
        base = day * _DAY + (h * 3600 + mn * 60) * _SEC
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            base -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60) * _SEC
        if ss is None:
            return base, base + 60 * _SEC - 1
        s = int(ss)
        if s > 60:
            return None
        base += s * _SEC
        if frac is None:
            return base, base + _SEC - 1
        digits = min(len(frac), 6)
        unit = 10 ** (6 - digits)
        low = base + int(frac[:digits]) * unit
        return low, low + unit - 1
    except ValueError:
        return None


def parse_reference(ref: str) -> tuple[str | None, str | None, str | None]:
    """(target_type, target_id, url) of a reference string; url only when not local."""
    if not ref or ref.startswith("#"):
        return None, None, None
    ref = ref.split("/_history/")[0]
    if "://" in ref or ref.startswith("urn:"):
        return None, None, ref[:512]
    parts = ref.split("/")
    if len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
        return parts[0], parts[1], None
    return None, None, ref[:512]


def reference_version(ref: str) -> str | None:
    """The version a literal reference names (`Patient/1/_history/2` -> "2"), else None."""
    _, sep, tail = ref.partition("/_history/")
    return (tail.split("/")[0][:64] or None) if sep else None


def decimal_places(text: str) -> int:
    text = text.strip().lower()
    if "e" in text:
        mant, _, exp = text.partition("e")
        return max(0, decimal_places(mant) - int(exp))
    return len(text.split(".", 1)[1]) if "." in text else 0


# -- exact decimals (storage.decimals keeps them exact in the index) ---------------------------
MAX_EXPONENT = 4999     # |exponent| bound of an indexed or searched decimal (storage.decimals)


class IndexDecimal(Decimal):
    """A decimal on its way into an index row (storage adapts it for the driver)."""
    __slots__ = ()


def index_decimal(v) -> IndexDecimal | None:
    """The exact decimal of a JSON number as parsed by fhirsvc.jsontext (an int, a float whose
    shortest repr is its text, or a DecimalText carrying its text); None for one that cannot
    be indexed (not finite, or an exponent beyond MAX_EXPONENT)."""
    if type(v) is int:
        d = IndexDecimal(v)
    else:
        text = getattr(v, "text", None)
        try:
            d = IndexDecimal(text if text is not None else repr(v))
        except (InvalidOperation, TypeError, ValueError):
            return None
    if not d.is_finite() or (d and not -MAX_EXPONENT <= d.adjusted() + 1 <= MAX_EXPONENT):
        return None
    return d
