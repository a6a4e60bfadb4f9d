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


def test_identifier_with_a_system_never_matches_one_without(client):
    """Patient safety: `identifier=sys|X` matches only identifiers of that system. A Patient
    whose identifier X has no system is another patient (conditional create makes a new one,
    conditional update does not overwrite it, a conditional reference does not point at it),
    and `|X` / `X` still find it."""
    nosys = client.post("/fhir/Patient", data=json.dumps({
        "resourceType": "Patient", "identifier": [{"value": "ns-1"}], "gender": "male",
        "name": [{"family": "Systemless"}]}), content_type=FHIR)
    assert nosys.status_code == 201
    nosys_id = nosys.get_json()["id"]

    made = client.post("/fhir/Patient", data=json.dumps(_patient("ns-1")), content_type=FHIR,
                       headers={"If-None-Exist": "identifier=urn:ex:ccq|ns-1"})
    assert made.status_code == 201 and made.get_json()["id"] != nosys_id
    made_id = made.get_json()["id"]

    # a conditional update with the system updates the new one, never the systemless one
    upd = client.put("/fhir/Patient?identifier=urn:ex:ccq|ns-1",
                     data=json.dumps({**_patient("ns-1"), "gender": "female"}),
                     content_type=FHIR)
    assert upd.status_code == 200 and upd.get_json()["id"] == made_id
    # a transaction's conditional create and conditional reference agree
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Patient?identifier=urn:ex:ccq|ns-1"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _patient("ns-1"), "request": {
            "method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:ex:ccq|ns-1"}},
        {"resource": obs, "request": {"method": "POST", "url": "Observation"}}]}
    tx = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR)
    assert tx.status_code == 200, tx.get_json()
    (patient_entry, obs_entry) = tx.get_json()["entry"]
    assert patient_entry["response"]["location"].startswith(f"Patient/{made_id}/")
    stored_obs = client.get("/fhir/" + obs_entry["response"]["location"].split("/_history")[0])
    assert stored_obs.get_json()["subject"]["reference"] == f"Patient/{made_id}"

    def ids(query):
        return sorted(e["resource"]["id"] for e in
                      client.get(f"/fhir/Patient?{query}").get_json().get("entry", []))
    assert ids("identifier=urn:ex:ccq|ns-1") == [made_id]
    assert ids("identifier=|ns-1") == [nosys_id]
    assert ids("identifier=ns-1") == sorted([nosys_id, made_id])
    unchanged = client.get(f"/fhir/Patient/{nosys_id}").get_json()
    assert unchanged["meta"]["versionId"] == "1" and unchanged["gender"] == "male"
    # a primitive code's system is implied by its binding: system|code still finds it
    assert nosys_id in ids("gender=http://hl7.org/fhir/administrative-gender|male")
    assert nosys_id not in ids("gender=http://example.org/other|male")  # not its binding's
