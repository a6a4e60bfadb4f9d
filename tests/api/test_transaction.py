"""Transaction and batch Bundles (R4 http.html#transaction), on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import uuid

FHIR = "application/fhir+json"


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def send(client, bundle, **headers):
    return client.post("/fhir", data=json.dumps(bundle), content_type=FHIR, headers=headers)


def tx(*entries, btype="transaction") -> dict:
    return {"resourceType": "Bundle", "type": btype, "entry": list(entries)}


def post_entry(resource, full_url=None, **request):
    entry = {"resource": resource,
             "request": {"method": "POST", "url": resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def count(client, rtype) -> int:
    return client.get(f"/fhir/{rtype}/_history").get_json()["total"]


def test_transaction_rewrites_urn_references_everywhere(client):
    pat, enc = urn(), urn()
    patient = {"resourceType": "Patient", "name": [{"family": "Okafor"}]}
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"},
                 "subject": {"reference": pat}}
    condition = {
        "resourceType": "Condition", "subject": {"reference": pat},
        "encounter": {"reference": enc},
        "code": {"text": "calcinosis"},
        "extension": [{"url": "http://example.org/related", "valueReference": {"reference": pat}}],
        "text": {"status": "generated",
                 "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{pat}">patient</a></div>'},
    }
    resp = send(client, tx(post_entry(condition, urn()), post_entry(encounter, enc),
                           post_entry(patient, pat)))
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert out["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in out["entry"]]
    assert statuses == ["201 Created"] * 3
    # response entries are in request order
    locs = [e["response"]["location"] for e in out["entry"]]
    assert locs[0].startswith("Condition/") and locs[2].startswith("Patient/")
    assert all(l.endswith("/_history/1") for l in locs)
    pat_ref = "/".join(locs[2].split("/")[:2])
    enc_ref = "/".join(locs[1].split("/")[:2])
    cond = client.get(f"/fhir/{'/'.join(locs[0].split('/')[:2])}").get_json()
    assert cond["subject"]["reference"] == pat_ref
    assert cond["encounter"]["reference"] == enc_ref
    assert cond["extension"][0]["valueReference"]["reference"] == pat_ref
    assert f'href="{pat_ref}"' in cond["text"]["div"]
    assert client.get(f"/fhir/{enc_ref}").get_json()["subject"]["reference"] == pat_ref


def test_transaction_is_all_or_nothing_with_entry_locations(client):
    before = count(client, "Patient")
    good = {"resourceType": "Patient", "name": [{"family": "Good"}]}
    bad = {"resourceType": "Patient", "birthDate": "1970-02-30"}
    resp = send(client, tx(post_entry(good, urn()), post_entry(good, urn()),
                           post_entry(bad, urn())))
    assert resp.status_code == 422
    issues = resp.get_json()["issue"]
    assert any(e == "Bundle.entry[2].resource.birthDate"
               for i in issues for e in i.get("expression", []))
    assert count(client, "Patient") == before


def test_transaction_processing_order_and_get(client):
    client.put("/fhir/Patient/order-1", data=json.dumps(
        {"resourceType": "Patient", "id": "order-1"}), content_type=FHIR)
    bundle = tx(
        {"request": {"method": "GET", "url": "Patient/order-2"}},
        {"resource": {"resourceType": "Patient", "id": "order-2", "gender": "male"},
         "request": {"method": "PUT", "url": "Patient/order-2"}},
        {"request": {"method": "DELETE", "url": "Patient/order-1"}},
    )
    out = send(client, bundle).get_json()
    statuses = [e["response"]["status"] for e in out["entry"]]
    # GET runs last, so it sees the PUT of the same transaction
    assert statuses == ["200 OK", "201 Created", "200 OK"]
    assert out["entry"][0]["resource"]["gender"] == "male"
    assert client.get("/fhir/Patient/order-1").status_code == 410


def test_transaction_if_none_exist_and_conditional_reference(client):
    ident = {"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": f"tx-{uuid.uuid4().hex[:8]}"}
    patient = {"resourceType": "Patient", "identifier": [ident]}
    pat = urn()
    query = f"identifier={ident['system']}|{ident['value']}"
    first = send(client, tx(post_entry(patient, pat, ifNoneExist=query)))
    assert first.get_json()["entry"][0]["response"]["status"] == "201 Created"
    existing = first.get_json()["entry"][0]["response"]["location"].split("/_history")[0]
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "Ca"},
           "subject": {"reference": pat}}
    obs2 = {"resourceType": "Observation", "status": "final", "code": {"text": "PTH"},
            "subject": {"reference": f"Patient?{query}"}}
    out = send(client, tx(post_entry(patient, pat, ifNoneExist=query), post_entry(obs, urn()),
                          post_entry(obs2, urn()))).get_json()
    assert out["entry"][0]["response"]["status"] == "200 OK"
    o1 = client.get("/fhir/" + out["entry"][1]["response"]["location"]).get_json()
    o2 = client.get("/fhir/" + out["entry"][2]["response"]["location"]).get_json()
    assert o1["subject"]["reference"] == existing
    assert o2["subject"]["reference"] == existing


def test_conditional_reference_without_match_fails_whole_transaction(client):
    before = count(client, "Observation")
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Patient?identifier=urn:oid:9.9|nobody"}}
    resp = send(client, tx(post_entry(obs, urn())))
    assert resp.status_code == 404
    issue = resp.get_json()["issue"][0]
    assert issue["code"] == "not-found" and issue["expression"] == ["Bundle.entry[0].resource"]
    assert "Patient?identifier=urn:oid:9.9|nobody" in issue["details"]["text"]
    assert count(client, "Observation") == before


def test_duplicate_identity_rejected(client):
    p = {"resourceType": "Patient", "id": "dup-1"}
    resp = send(client, tx({"resource": p, "request": {"method": "PUT", "url": "Patient/dup-1"}},
                           {"resource": p, "request": {"method": "PUT", "url": "Patient/dup-1"}}))
    assert resp.status_code == 400
    assert "Bundle.entry[1].request.url" in resp.get_json()["issue"][0]["expression"]
    full = urn()
    resp = send(client, tx(post_entry({"resourceType": "Patient"}, full),
                           post_entry({"resourceType": "Patient"}, full)))
    assert resp.status_code == 400


def test_malformed_bundles(client):
    assert send(client, {"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert send(client, {"resourceType": "Patient"}).status_code == 400
    resp = send(client, tx({"resource": {"resourceType": "Patient"}}))
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    resp = send(client, tx({"resource": {"resourceType": "Patient"},
                            "request": {"method": "POST", "url": "Observation"}}))
    assert resp.status_code == 400


def test_if_match_inside_transaction(client):
    client.put("/fhir/Patient/txm-1", data=json.dumps({"resourceType": "Patient", "id": "txm-1"}),
               content_type=FHIR)
    entry = {"resource": {"resourceType": "Patient", "id": "txm-1", "gender": "male"},
             "request": {"method": "PUT", "url": "Patient/txm-1", "ifMatch": 'W/"5"'}}
    resp = send(client, tx(entry))
    assert resp.status_code == 412
    assert client.get("/fhir/Patient/txm-1").get_json().get("gender") is None


def test_batch_entries_are_independent(client):
    good = {"resourceType": "Patient", "name": [{"family": "Batch"}]}
    bad = {"resourceType": "Patient", "birthDate": "not-a-date"}
    out = send(client, tx(post_entry(good), post_entry(bad),
                          {"request": {"method": "GET", "url": "Patient/nope-nope"}},
                          {"request": {"method": "FETCH", "url": "Patient"}},
                          btype="batch"))
    assert out.status_code == 200
    entries = out.get_json()["entry"]
    assert out.get_json()["type"] == "batch-response"
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"].startswith("422")
    assert entries[1]["response"]["outcome"]["issue"][0]["severity"] == "error"
    assert entries[2]["response"]["status"].startswith("404")
    assert entries[3]["response"]["status"].startswith("400")
    loc = entries[0]["response"]["location"]
    assert client.get(f"/fhir/{loc}").status_code == 200


def test_prefer_representation_returns_resources(client):
    out = send(client, tx(post_entry({"resourceType": "Patient"}, urn())),
               Prefer="return=representation").get_json()
    assert out["entry"][0]["resource"]["resourceType"] == "Patient"
    assert out["entry"][0]["resource"]["meta"]["versionId"] == "1"


def test_urn_reference_resolves_to_resource_created_earlier(client):
    org = urn()
    first = send(client, tx(post_entry({"resourceType": "Organization", "name": "Clinic"}, org)))
    org_ref = first.get_json()["entry"][0]["response"]["location"].split("/_history")[0]
    pat = {"resourceType": "Patient", "managingOrganization": {"reference": org}}
    out = send(client, tx(post_entry(pat, urn()))).get_json()
    stored = client.get("/fhir/" + out["entry"][0]["response"]["location"]).get_json()
    assert stored["managingOrganization"]["reference"] == org_ref


def test_unresolvable_urn_reference_fails_with_location(client):
    before = count(client, "Patient")
    pat = {"resourceType": "Patient", "managingOrganization": {"reference": urn()}}
    resp = send(client, tx(post_entry({"resourceType": "Patient"}, urn()), post_entry(pat, urn())))
    assert resp.status_code == 404
    assert resp.get_json()["issue"][0]["expression"] == ["Bundle.entry[1].resource"]
    assert count(client, "Patient") == before
