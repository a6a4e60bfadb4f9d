"""Limits of one request (issue 9), configured small here: too many search parameters or
values, huge numbers, include fan-out and oversized Bundles are clear 400 / 413
OperationOutcomes, never 500s or runaway work. Both databases."""
from __future__ import annotations

import json

import pytest

from fhirsvc.config import Config

FHIR = "application/fhir+json"


@pytest.fixture(scope="module")
def config(db_url, tmp_path_factory):
    return Config(database_url=db_url, examples_dir=tmp_path_factory.mktemp("no-examples"),
                  search_max_parameters=20, search_max_values=40, search_max_offset=1000,
                  include_max_results=5, bundle_max_entries=10,
                  bundle_max_response_resources=3)


def _outcome(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["details"]["text"]


def test_too_many_parameters_and_values(client):
    many = "&".join(f"name=x{i}" for i in range(21))
    assert "21 parameters" in _outcome(client.get(f"/fhir/Patient?{many}"), 400)
    # POST _search counts the same way
    assert "21 parameters" in _outcome(client.post(
        "/fhir/Patient/_search", data=many,
        content_type="application/x-www-form-urlencoded"), 400)
    values = ",".join(f"x{i}" for i in range(41))
    assert "41 values" in _outcome(client.get(f"/fhir/Patient?name={values}"), 400)
    assert client.get("/fhir/Patient?" + "&".join(
        f"name=x{i}" for i in range(20))).status_code == 200


@pytest.mark.parametrize("url", [
    "/fhir/Patient?_offset=99999999999999999999999",
    "/fhir/Patient?_offset=1001",
    "/fhir/Patient?_count=99999999999999999999999",
    "/fhir/Patient/x/_history/99999999999999999999999",
    "/fhir/Patient/_history?_offset=99999999999999999999999",
    "/fhir/_history?_count=99999999999999999999999",
])
def test_huge_numbers_are_400(client, url):
    _outcome(client.get(url), 400)


def test_huge_numbers_as_token_values_are_just_text(client):
    url = "/fhir/Patient?identifier=" + ",".join(str(10 ** 30 + i) for i in range(3))
    assert client.get(url).status_code == 200


def test_include_fan_out_is_capped(client):
    pid = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient"}),
                      content_type=FHIR).get_json()["id"]
    for i in range(6):
        client.post("/fhir/Observation", data=json.dumps({
            "resourceType": "Observation", "status": "final", "code": {"text": f"fan{i}"},
            "subject": {"reference": f"Patient/{pid}"}}), content_type=FHIR)
    text = _outcome(client.get(f"/fhir/Patient?_id={pid}&_revinclude=Observation:subject"),
                    400)
    assert "more than 5" in text
    ok = client.get(f"/fhir/Patient?_id={pid}&_revinclude=Observation:subject&_count=1")
    assert ok.status_code == 400  # the fan-out is per page: one patient, six observations
    assert client.get(f"/fhir/Patient?_id={pid}").status_code == 200


def test_bundle_entry_cap_is_413(client):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?_count=1"}}] * 11}
    assert "11 entries" in _outcome(client.post("/fhir", data=json.dumps(bundle),
                                                content_type=FHIR), 413)
    bundle["entry"] = bundle["entry"][:10]
    assert client.post("/fhir", data=json.dumps(bundle), content_type=FHIR).status_code == 200


def test_searches_of_one_batch_share_a_response_budget(client):
    for i in range(3):
        client.post("/fhir/Practitioner", data=json.dumps({"resourceType": "Practitioner"}),
                    content_type=FHIR)
    search = {"request": {"method": "GET", "url": "Practitioner?_count=2"}}
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [search, search, search]}
    resp = client.post("/fhir", data=json.dumps(batch), content_type=FHIR)
    statuses = [e["response"]["status"][:3] for e in resp.get_json()["entry"]]
    assert statuses == ["200", "413", "413"]
    transaction = dict(batch, type="transaction")
    resp = client.post("/fhir", data=json.dumps(transaction), content_type=FHIR)
    assert resp.status_code == 413
    assert resp.get_json()["issue"][0]["expression"] == ["Bundle.entry[1].request.url"]


def test_huge_numbers_inside_a_batch_fail_their_entry_only(client):
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/x/_history/99999999999999999999999"}},
        {"request": {"method": "GET", "url": "Patient?_offset=99999999999999999999999"}},
        {"request": {"method": "GET", "url": "Patient?_count=1"}}]}
    resp = client.post("/fhir", data=json.dumps(batch), content_type=FHIR)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert [e["response"]["status"][:3] for e in resp.get_json()["entry"]] == \
        ["400", "400", "200"]
