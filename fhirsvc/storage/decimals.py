"""Exact decimals in the search index (quantity, number and composite number columns).

FHIR decimals are compared as decimals, never as doubles: `12345678901234567.1` matches itself
and not `12345678901234567.2`, and `eq1.10` is the range [1.095, 1.105) exactly.

- PostgreSQL: the columns are `NUMERIC` (arbitrary precision); values bind as `Decimal`.
- SQLite has no exact numeric type, so the columns hold an order-preserving text key: byte
  order of two keys is the numeric order of their decimals, and equal decimals (`1.1`,
  `1.10`) have one key. `key(d)`:
    zero          "O"
    positive      "P" + (exponent + 5000, 4 digits) + the significant digits
    negative      "N" + (4999 - exponent, 4 digits) + each digit as 9 - digit + "~"
  where d = ±0.d1d2...dk × 10^exponent with d1 != 0 and dk != 0. The "~" (above every digit)
  ends a negative key, so -0.123 sorts below -0.12. 'N' < 'O' < 'P'.
  Exponents are bounded to [-4999, 4999] (`search.values.index_decimal`): the extractor does not index a value
  outside it, and a search for one is a 400 (search/parse.py).

The index rows carry `IndexDecimal` values (a `Decimal`): the bulk insert passes row tuples
straight to the driver, so sqlite3 gets an adapter for that type (the key) and psycopg dumps it
as any `Decimal` (numeric). Searches bind through `ExactDecimal`, the columns' type.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.types import TypeDecorator

from ..search.values import MAX_EXPONENT, IndexDecimal
_COMPLEMENT = str.maketrans("0123456789", "9876543210")


def key(d: Decimal) -> str:
    """The order-preserving text key of a finite decimal (module docstring)."""
    sign, digits, _exp = d.as_tuple()
    if not any(digits):
        return "O"
    text = "".join(map(str, digits)).rstrip("0")
    e = d.adjusted() + 1
    if e > MAX_EXPONENT or e < -MAX_EXPONENT:
        raise ValueError(f"decimal {d} is outside the index's range")
    if sign:
        return f"N{MAX_EXPONENT - e:04d}{text.translate(_COMPLEMENT)}~"
    return f"P{e + 5000:04d}{text}"


def from_key(k: str) -> Decimal:
    """The decimal of a key (the canonical value: trailing zeros dropped)."""
    if k == "O":
        return Decimal(0)
    if k[0] == "P":
        e, digits, sign = int(k[1:5]) - 5000, k[5:], ""
    else:
        e, digits, sign = MAX_EXPONENT - int(k[1:5]), k[5:-1].translate(_COMPLEMENT), "-"
    return Decimal(f"{sign}0.{digits}").scaleb(e)


sqlite3.register_adapter(IndexDecimal, key)


class ExactDecimal(TypeDecorator):
    """NUMERIC on PostgreSQL, the text key on SQLite; Python side: `Decimal`."""
    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if dialect.name == "postgresql":
            return Decimal(value)
        return key(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value if isinstance(value, Decimal) else Decimal(str(value))
        return from_key(value) if isinstance(value, str) else Decimal(repr(value))
