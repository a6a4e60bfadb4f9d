"""The SQLite index key of exact decimals (storage/decimals.py): byte order is numeric order,
equal decimals share a key, and the key decodes to the value (issue 9)."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from fhirsvc.search.values import IndexDecimal, index_decimal
from fhirsvc.storage.decimals import from_key, key

EDGES = ["0", "-0", "0.000", "1", "1.1", "1.10", "-1.1", "-1.10", "-0.123", "-0.12", "0.12",
         "0.123", "12345678901234567.1", "12345678901234567.2", "1e100", "-1e100", "1e-100",
         "-1e-100", "1.095", "1.105", "9.99", "10", "-9.99", "-10", "-100.5", "1e4998"]


def test_key_order_is_numeric_order_and_equal_values_share_a_key():
    rng = random.Random(9)
    values = [Decimal(v) for v in EDGES] + [
        Decimal(rng.randint(-10 ** 8, 10 ** 8)).scaleb(rng.randint(-40, 40)) for _ in range(3000)]
    by_value = sorted(values)
    by_key = sorted(values, key=key)
    assert [key(v) for v in by_value] == [key(v) for v in by_key]
    for a, b in zip(by_value, by_value[1:]):
        assert (key(a) == key(b)) == (a == b), (a, b)
    for v in values:
        assert from_key(key(v)) == v
    assert key(Decimal("1.10")) == key(Decimal("1.1")) and key(Decimal("-0")) == "O"


def test_out_of_range_exponents_are_refused():
    with pytest.raises(ValueError):
        key(Decimal("1e5000"))
    assert index_decimal(float("inf")) is None
    assert index_decimal(1e300) == Decimal("1e300")


def test_index_decimal_keeps_the_written_text():
    from fhirsvc import jsontext
    doc = jsontext.loads(b'{"a":12345678901234567.1,"b":1.10,"c":3,"d":0.5}')
    assert index_decimal(doc["a"]) == Decimal("12345678901234567.1")
    assert index_decimal(doc["b"]) == Decimal("1.10")
    assert index_decimal(doc["c"]) == 3 and isinstance(index_decimal(doc["c"]), IndexDecimal)
    assert index_decimal(doc["d"]) == Decimal("0.5")
