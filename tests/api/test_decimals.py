"""Decimals keep their exact value and precision (R4 datatypes.html#decimal) from the wire
to the stored text and every output: read, search, history, transaction responses, _pretty,
PATCH. Both databases."""
from __future__ import annotations

import json

import pytest

from fhirsvc import jsontext

FHIR = "application/fhir+json"
VALUES = ["1.10", "12345678901234567.1", "0.000", "1e2", "-2.50", "3.14159265358979323846"]


def _obs(value_text: str, code: str) -> bytes:
    # written by hand: json.dumps would already lose what the test is about
    return (f'{{"resourceType":"Observation","status":"final","code":{{"text":"{code}"}},'
            f'"valueQuantity":{{"value":{value_text},"unit":"mg"}}}}').encode()


def _value_text(raw: bytes) -> str:
    text = raw.decode()
    start = text.index('"value":', text.index("valueQuantity")) + len('"value":')
    end = start
    while text[end] not in ",}":
        end += 1
    return text[start:end].strip()


@pytest.mark.parametrize("value", VALUES)
def test_decimal_round_trips_exactly(client, value):
    code = f"dec-{value}"
    resp = client.post("/fhir/Observation", data=_obs(value, code), content_type=FHIR)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert _value_text(resp.data) == value
    oid = resp.get_json()["id"]
    assert _value_text(client.get(f"/fhir/Observation/{oid}").data) == value
    assert _value_text(client.get(f"/fhir/Observation/{oid}?_pretty=true").data) == value
    assert _value_text(client.get(f"/fhir/Observation?_id={oid}").data) == value
    assert _value_text(client.get(f"/fhir/Observation/{oid}?_elements=valueQuantity").data
                       ) == value
    # a patch of another element leaves the decimal as it was
    resp = client.patch(f"/fhir/Observation/{oid}", data=b'{"status":"amended"}',
                        content_type="application/merge-patch+json")
    assert resp.status_code == 200 and _value_text(resp.data) == value


def test_decimal_exact_through_a_transaction(client):
    bundle = (b'{"resourceType":"Bundle","type":"transaction","entry":[{"resource":'
              + _obs("1.10", "tx") + b',"request":{"method":"POST","url":"Observation"}}]}')
    resp = client.post("/fhir", data=bundle, content_type=FHIR,
                       headers={"Prefer": "return=representation"})
    assert resp.status_code == 200
    assert _value_text(resp.data) == "1.10"


def test_search_by_decimal_uses_the_implicit_range(client):
    client.post("/fhir/Observation", data=_obs("7654.10", "range"), content_type=FHIR)
    for query, total in (("7654.1", 1), ("7654.10", 1), ("7654.12", 0), ("7654", 1)):
        hits = client.get(f"/fhir/Observation?value-quantity={query}").get_json()
        assert hits["total"] == total, query


def test_loads_fast_path_and_exact_path():
    exact = jsontext.loads(b'{"a":1.10,"b":[2.50,3]}')
    assert isinstance(exact["a"], jsontext.DecimalText) and exact["a"] == 1.1
    assert jsontext.dumps_text(exact) == '{"a":1.10,"b":[2.50,3]}'
    plain = jsontext.loads(b'{"t":"2020-01-01T10:00:00.123Z","v":8.25}')
    assert type(plain["v"]) is float  # nothing lost: orjson's result is kept
    assert json.loads(jsontext.dumps_text(plain)) == plain


def test_decimal_exact_in_xml_answers(client):
    resp = client.post("/fhir/Observation", data=_obs("4.20", "xml"), content_type=FHIR)
    oid = resp.get_json()["id"]
    for url in (f"/fhir/Observation/{oid}", f"/fhir/Observation?_id={oid}",
                f"/fhir/Observation/{oid}?_elements=valueQuantity"):
        xml = client.get(url, headers={"Accept": "application/fhir+xml"})
        assert xml.status_code == 200, (url, xml.get_data(as_text=True)[:300])
        assert b'<value value="4.20"/>' in xml.data, url


# -- the search index compares exact decimals (issue 9; storage/decimals.py) -------------------

def _obs_unit(value_text: str, unit: str) -> bytes:
    return (f'{{"resourceType":"Observation","status":"final","code":{{"coding":[{{"system":'
            f'"http://loinc.org","code":"2345-7"}}]}},"valueQuantity":{{"value":{value_text},'
            f'"unit":"{unit}"}}}}').encode()


def _store(client, unit: str, values: list[str]) -> dict[str, str]:
    ids = {}
    for v in values:
        resp = client.post("/fhir/Observation", data=_obs_unit(v, unit), content_type=FHIR)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        ids[resp.get_json()["id"]] = v
    return ids


def _found(client, ids: dict[str, str], query: str) -> list[str]:
    resp = client.get(f"/fhir/Observation?{query}&_count=100")
    assert resp.status_code == 200, (query, resp.get_data(as_text=True))
    return sorted(ids[e["resource"]["id"]] for e in resp.get_json().get("entry", []))


def test_search_distinguishes_decimals_a_double_cannot(client):
    ids = _store(client, "u-big", ["12345678901234567.1", "12345678901234567.2",
                                   "12345678901234567"])
    q = "value-quantity={}||u-big"
    assert _found(client, ids, q.format("12345678901234567.1")) == ["12345678901234567.1"]
    assert _found(client, ids, q.format("12345678901234567.2")) == ["12345678901234567.2"]
    assert _found(client, ids, q.format("gt12345678901234567.1")) == ["12345678901234567.2"]
    assert _found(client, ids, q.format("lt12345678901234567.1")) == ["12345678901234567"]
    assert _found(client, ids, q.format("ne12345678901234567.1")) == [
        "12345678901234567", "12345678901234567.2"]
    # 17 significant digits: [12345678901234566.5, 12345678901234567.5) holds all three
    assert len(_found(client, ids, q.format("12345678901234567"))) == 3


def test_eq_is_the_exact_precision_range(client):
    # 1.1049999999999999 and 1.105 are one double; as decimals only the first is in range
    values = ["1.094", "1.095", "1.1", "1.10", "1.104", "1.1049999999999999", "1.105"]
    ids = _store(client, "u-range", values)
    assert _found(client, ids, "value-quantity=eq1.10||u-range") == sorted(
        ["1.095", "1.1", "1.10", "1.104", "1.1049999999999999"])
    assert _found(client, ids, "value-quantity=1.1||u-range") == sorted(values)  # [1.05, 1.15)
    assert _found(client, ids, "value-quantity=ge1.104||u-range") == [
        "1.104", "1.1049999999999999", "1.105"]
    assert _found(client, ids, "value-quantity=ap1.1||u-range") == sorted(values)


def test_negative_zero_and_tiny_decimals_order_and_sort(client):
    values = ["-100.5", "-2.50", "-2.5000001", "-0.12", "-0.123", "0", "0.000", "1e-30",
              "0.12", "9.99", "10", "1e20"]
    ids = _store(client, "u-order", values)
    assert _found(client, ids, "value-quantity=lt-0.12||u-order") == sorted(
        ["-100.5", "-2.50", "-2.5000001", "-0.123"])
    assert _found(client, ids, "value-quantity=0.000||u-order") == ["0", "0.000", "1e-30"]
    assert _found(client, ids, "value-quantity=0||u-order") == sorted(  # [-0.5, 0.5)
        ["-0.12", "-0.123", "0", "0.000", "1e-30", "0.12"])
    assert _found(client, ids, "value-quantity=gt0||u-order") == sorted(
        ["1e-30", "0.12", "9.99", "10", "1e20"])
    assert _found(client, ids, "value-quantity=le-2.5||u-order") == sorted(
        ["-100.5", "-2.50", "-2.5000001"])
    resp = client.get("/fhir/Observation?value-quantity=ge-1000||u-order&_sort=value-quantity"
                      "&_count=100").get_json()
    got = [ids[e["resource"]["id"]] for e in resp["entry"]]
    assert got[:5] == ["-100.5", "-2.5000001", "-2.50", "-0.123", "-0.12"]
    assert set(got[5:7]) == {"0", "0.000"} and got[7:] == ["1e-30", "0.12", "9.99", "10", "1e20"]


def test_number_and_composite_parameters_are_exact(client):
    ra = (b'{"resourceType":"RiskAssessment","status":"final","subject":{"reference":'
          b'"Patient/dec-ra"},"prediction":[{"probabilityDecimal":0.10000000000000000001}]}')
    resp = client.post("/fhir/RiskAssessment", data=ra, content_type=FHIR)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]

    def hits(q):
        return [e["resource"]["id"] for e in client.get(
            f"/fhir/RiskAssessment?subject=Patient/dec-ra&{q}").get_json().get("entry", [])]
    assert hits("probability=gt0.1") == [rid]             # a double says 0.1: not greater
    assert hits("probability=0.10000000000000000001") == [rid]
    assert hits("probability=0.10000000000000000002") == []
    ids = _store(client, "u-comp", ["12345678901234567.1"])
    assert _found(client, ids, "code-value-quantity=http://loinc.org|2345-7$"
                               "12345678901234567.1||u-comp") == ["12345678901234567.1"]
    assert _found(client, ids, "code-value-quantity=http://loinc.org|2345-7$"
                               "12345678901234567.2||u-comp") == []


def test_out_of_range_decimals_are_a_400_not_a_500(client):
    resp = client.get("/fhir/Observation?value-quantity=1e999999999999")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    # beyond a double on the wire: a 400 naming the place, before the index sees it
    resp = client.post("/fhir/Observation", data=_obs_unit("1e6000", "u-huge"),
                       content_type=FHIR)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "line 1" in resp.get_json()["issue"][0]["details"]["text"]
