"""Index rows: what extraction produces for one resource, one typed tuple per value.

Each row type lists the columns of its index table after (res_pk, resource_type), in table
order, so storage writes `(pk, type) + row` with a driver-level executemany. Values are
normalised at write time (fhirsvc.search.values):

- token: system, code (exact), text (normalised display/text for :text); identifiers with a
  type add a row under `<code>:of-type` with system `typeSystem|typeCode`; logical references
  (Reference.identifier) a row under `<code>:identifier`;
- string: value (normalised, at most 255 chars) and exact (the raw text);
- date: low/high bounds in microseconds UTC covering the value's precision (inclusive), with
  `wide` (spans a day or more) and `multi` (several values) flags for index-friendly ranges;
- reference: target type + id for local references, url for absolute/canonical ones, and the
  version a reference names (`Patient/1/_history/2`: "2"; a versioned search matches it);
- quantity/number: value as an exact decimal (storage.decimals), quantity system/code/unit;
- uri: value;
- composite: the first (token) component in system1/code1, the second in the typed columns.
"""
from __future__ import annotations

from typing import NamedTuple


class TokenRow(NamedTuple):
    param: str
    system: str | None
    code: str | None
    text: str | None


class StringRow(NamedTuple):
    param: str
    value: str
    exact: str


class DateRow(NamedTuple):
    param: str
    low: int
    high: int
    wide: int
    multi: int


class ReferenceRow(NamedTuple):
    param: str
    target_type: str | None
    target_id: str | None
    url: str | None
    target_version: str | None


class QuantityRow(NamedTuple):
    param: str
    value: Decimal
    system: str | None
    code: str | None
    unit: str | None


class NumberRow(NamedTuple):
    param: str
    value: Decimal


class UriRow(NamedTuple):
    param: str
    value: str


class CompositeRow(NamedTuple):
    param: str
    system1: str | None
    code1: str
    v_system: str | None
    v_code: str | None
    v_num: Decimal | None
    v_low: int | None
    v_high: int | None
    v_str: str | None


ROW_TYPES: dict[str, type] = {
    "token": TokenRow, "string": StringRow, "date": DateRow, "reference": ReferenceRow,
    "quantity": QuantityRow, "number": NumberRow, "uri": UriRow, "composite": CompositeRow,
}

# rows of one resource by parameter type (keys of ROW_TYPES)
IndexRows = dict[str, list[tuple]]
