"""Strings with forbidden control characters (R4 string allows tab, CR, LF only): one answer
on both databases, a 422 located at the element (PostgreSQL used to answer 500 for \\u0000);
in search values a 400."""
from __future__ import annotations

import json

import pytest

FHIR = "application/fhir+json"


@pytest.mark.parametrize("char", ["\u0000", "\u0007", "\u001b"])
def test_control_character_in_a_string_is_422_with_location(client, char):
    body = {"resourceType": "Patient", "name": [{"family": f"Nul{char}l"}]}
    resp = client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Patient.name[0].family"]
    assert f"U+{ord(char):04X}" in issue["details"]["text"]


def test_tab_cr_lf_are_allowed(client):
    body = {"resourceType": "Patient", "name": [{"text": "a\tb\r\nc"}]}
    assert client.post("/fhir/Patient", data=json.dumps(body),
                       content_type=FHIR).status_code == 201


def test_nul_in_a_transaction_is_located_in_the_entry(client):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "gender": "male"},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "name": [{"given": ["ok", "x\u0000"]}]},
         "request": {"method": "POST", "url": "Patient"}}]}
    resp = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR)
    assert resp.status_code == 422
    assert resp.get_json()["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.name[0].given[1]"]


def test_nul_in_a_search_value_is_400(client):
    resp = client.get("/fhir/Patient?name=a%00b")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] == "OperationOutcome"
