"""Content negotiation happens before any work: a request whose response format cannot be
served changes nothing (a client retrying it must not create duplicates)."""
import json

import pytest

FHIR = "application/fhir+json"


def count(runtime, rtype):
    with runtime.db.unit_of_work() as uow:
        return uow.resources.count(rtype, include_deleted=True)


@pytest.mark.parametrize("headers,query", [
    ({"Accept": "application/fhir+turtle"}, ""),
    ({"Accept": "text/html"}, ""),
    ({}, "?_format=ttl"),
])
def test_create_that_cannot_be_answered_stores_nothing(client, runtime, headers, query):
    before = count(runtime, "Patient")
    resp = client.post(f"/fhir/Patient{query}", data=json.dumps({"resourceType": "Patient"}),
                       headers={"Content-Type": FHIR, **headers})
    assert resp.status_code == 406
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-supported"
    assert count(runtime, "Patient") == before


def test_transaction_that_cannot_be_answered_stores_nothing(client, runtime):
    before = count(runtime, "Basic")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Basic"},
         "resource": {"resourceType": "Basic", "code": {"text": "x"}}}]}
    resp = client.post("/fhir", data=json.dumps(bundle),
                       headers={"Content-Type": FHIR, "Accept": "text/html"})
    assert resp.status_code == 406
    assert count(runtime, "Basic") == before


def test_update_and_delete_that_cannot_be_answered_change_nothing(client, runtime):
    created = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient"}),
                          headers={"Content-Type": FHIR}).get_json()
    rid = created["id"]
    resp = client.put(f"/fhir/Patient/{rid}", data=json.dumps(
        {"resourceType": "Patient", "id": rid, "active": True}),
        headers={"Content-Type": FHIR, "Accept": "text/html"})
    assert resp.status_code == 406
    assert client.delete(f"/fhir/Patient/{rid}",
                         headers={"Accept": "text/html"}).status_code == 406
    current = client.get(f"/fhir/Patient/{rid}")
    assert current.status_code == 200 and current.get_json()["meta"]["versionId"] == "1"


def test_accept_json_variants_and_wildcards_are_served(client):
    for accept in ("application/json", "application/fhir+json;q=0.9", "*/*", "application/*"):
        resp = client.get("/fhir/metadata", headers={"Accept": accept})
        assert resp.status_code == 200, accept
