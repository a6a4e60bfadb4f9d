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
