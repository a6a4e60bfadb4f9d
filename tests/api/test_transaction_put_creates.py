"""A transaction of updates that create (the shape of a remote pull) stores them in bulk with
the same outcomes as one by one: 201 for new ids, 200 for existing ones, a deleted one comes
back at its next version, If-Match on a new id is still a 412 and nothing is stored."""
from __future__ import annotations

import uuid


def put(rtype, rid, **fields):
    return {"fullUrl": f"http://x/{rtype}/{rid}", "resource": {"resourceType": rtype, "id": rid,
                                                               **fields},
            "request": {"method": "PUT", "url": f"{rtype}/{rid}"}}


def test_put_creates_in_bulk_beside_updates(client):
    ids = [uuid.uuid4().hex for _ in range(4)]
    for rid in ids[2:]:
        assert client.put(f"/fhir/Patient/{rid}", json={"resourceType": "Patient", "id": rid},
                          content_type="application/fhir+json").status_code == 201
    assert client.delete(f"/fhir/Patient/{ids[3]}").status_code == 204
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        put("Patient", rid, gender="female") for rid in ids]}
    resp = client.post("/fhir", json=bundle, content_type="application/fhir+json")
    assert resp.status_code == 200, resp.get_json()
    got = [(e["response"]["status"], e["response"]["etag"]) for e in resp.get_json()["entry"]]
    assert got == [("201 Created", 'W/"1"'), ("201 Created", 'W/"1"'), ("200 OK", 'W/"2"'),
                   ("201 Created", 'W/"3"')]
    for rid in ids:
        body = client.get(f"/fhir/Patient/{rid}").get_json()
        assert body["gender"] == "female" and body["id"] == rid
    assert client.get(f"/fhir/Patient?_id={ids[0]}").get_json()["total"] == 1  # indexed
    fresh = uuid.uuid4().hex
    bad = {"resourceType": "Bundle", "type": "transaction", "entry": [
        put("Patient", uuid.uuid4().hex), {**put("Patient", fresh), "request": {
            "method": "PUT", "url": f"Patient/{fresh}", "ifMatch": 'W/"1"'}}]}
    resp = client.post("/fhir", json=bad, content_type="application/fhir+json")
    assert resp.status_code == 412
    assert client.get(f"/fhir/Patient/{fresh}").status_code == 404
