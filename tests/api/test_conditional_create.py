"""Conditional create as clients send it: `POST Type?criteria` (fhirpy), duplicate
`ifNoneExist` entries in one transaction, and a conditional delete asked for an
OperationOutcome. Both databases."""
from __future__ import annotations

import json

FHIR = "application/fhir+json"


def _patient(value: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:ex:ccq", "value": value}],
            "name": [{"family": "Okafor"}]}


def _count(client, value: str) -> int:
    return client.get(f"/fhir/Patient?identifier=urn:ex:ccq|{value}&_summary=count"
                      ).get_json()["total"]


def test_post_with_criteria_is_a_conditional_create(client):
    url = "/fhir/Patient?identifier=urn:ex:ccq|q1"
    first = client.post(url, data=json.dumps(_patient("q1")), content_type=FHIR)
    assert first.status_code == 201
    again = client.post(url, data=json.dumps(_patient("q1")), content_type=FHIR)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert _count(client, "q1") == 1
    # _format is not a criterion
    fmt = client.post("/fhir/Patient?_format=json", data=json.dumps(_patient("q2")),
                      content_type=FHIR)
    assert fmt.status_code == 201
    client.post("/fhir/Patient", data=json.dumps(_patient("q2")), content_type=FHIR)
    many = client.post("/fhir/Patient?identifier=urn:ex:ccq|q2",
                       data=json.dumps(_patient("q2")), content_type=FHIR)
    assert many.status_code == 412
    bad = client.post("/fhir/Patient?not-a-param=1", data=json.dumps(_patient("q3")),
                      content_type=FHIR)
    assert bad.status_code == 400 and _count(client, "q3") == 0
    both = client.post(url, data=json.dumps(_patient("q1")), content_type=FHIR,
                       headers={"If-None-Exist": "identifier=urn:ex:ccq|q1"})
    assert both.status_code == 400


def test_two_if_none_exist_entries_with_the_same_criteria_create_one(client):
    def entry(full_url):
        return {"fullUrl": full_url, "resource": _patient("t1"),
                "request": {"method": "POST", "url": "Patient",
                            "ifNoneExist": "identifier=urn:ex:ccq|t1"}}
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-0000000000b2"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("urn:uuid:00000000-0000-4000-8000-0000000000b1"),
        entry("urn:uuid:00000000-0000-4000-8000-0000000000b2"),
        {"resource": obs, "request": {"method": "POST", "url": "Observation"}}]}
    resp = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR)
    assert resp.status_code == 200, resp.get_json()
    entries = resp.get_json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "200", "201"]
    assert entries[0]["response"]["location"] == entries[1]["response"]["location"]
    assert _count(client, "t1") == 1
    pid = entries[0]["response"]["location"].split("/")[1]
    oid = entries[2]["response"]["location"].split("/")[1]
    stored = client.get(f"/fhir/Observation/{oid}").get_json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"


def test_conditional_delete_can_answer_an_operation_outcome(client):
    client.post("/fhir/Patient", data=json.dumps(_patient("d1")), content_type=FHIR)
    resp = client.delete("/fhir/Patient?identifier=urn:ex:ccq|d1",
                         headers={"Prefer": "return=OperationOutcome"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert "Deleted Patient/" in body["issue"][0]["details"]["text"]
    resp = client.delete("/fhir/Patient?identifier=urn:ex:ccq|d1",
                         headers={"Prefer": "return=OperationOutcome"})
    assert resp.status_code == 200
    assert "nothing deleted" in resp.get_json()["issue"][0]["details"]["text"]
