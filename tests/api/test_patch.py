"""PATCH (R4 http.html#patch): JSON Patch, JSON Merge Patch, FHIRPath Patch; conditional
patch; If-Match; the result validated; inside transactions and batches. Both databases."""
from __future__ import annotations

import base64
import json

FHIR = "application/fhir+json"


def _patient(client, **extra) -> str:
    body = {"resourceType": "Patient", "name": [{"family": "Chen", "given": ["Li"]}],
            "gender": "female", "birthDate": "1961-04-02", **extra}
    resp = client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _patch(client, path, body, ctype, **headers):
    return client.patch(f"/fhir/{path}", data=json.dumps(body), content_type=ctype,
                        headers=headers)


def _op(kind, path, **parts):
    out = [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path}]
    for name, value in parts.items():
        if isinstance(value, int):
            out.append({"name": name, "valueInteger": value})
        elif isinstance(value, list):  # a complex value as parts
            out.append({"name": name, "part": value})
        else:
            out.append({"name": name, "valueString": value})
    return {"name": "operation", "part": out}


def _params(*ops):
    return {"resourceType": "Parameters", "parameter": list(ops)}


def test_json_patch(client):
    pid = _patient(client)
    resp = _patch(client, f"Patient/{pid}", [
        {"op": "replace", "path": "/birthDate", "value": "1962-05-03"},
        {"op": "add", "path": "/name/0/given/-", "value": "Mei"},
        {"op": "remove", "path": "/gender"}], "application/json-patch+json")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["birthDate"] == "1962-05-03" and body["name"][0]["given"] == ["Li", "Mei"]
    assert "gender" not in body and body["meta"]["versionId"] == "2"
    assert resp.headers["ETag"] == 'W/"2"'
    history = client.get(f"/fhir/Patient/{pid}/_history").get_json()
    assert history["entry"][0]["request"]["method"] == "PATCH"


def test_json_patch_failing_operation_is_422_naming_it(client):
    pid = _patient(client)
    resp = _patch(client, f"Patient/{pid}", [
        {"op": "replace", "path": "/birthDate", "value": "1962-05-03"},
        {"op": "remove", "path": "/telecom/0"}], "application/json-patch+json")
    assert resp.status_code == 422
    issue = resp.get_json()["issue"][0]
    assert "operation 1 (remove /telecom/0)" in issue["details"]["text"]
    # nothing was written
    assert client.get(f"/fhir/Patient/{pid}").get_json()["meta"]["versionId"] == "1"


def test_malformed_json_patch_is_400(client):
    pid = _patient(client)
    resp = _patch(client, f"Patient/{pid}", [{"op": "frobnicate", "path": "/x"}],
                  "application/json-patch+json")
    assert resp.status_code == 400
    assert "operation 0" in resp.get_json()["issue"][0]["details"]["text"]


def test_merge_patch_and_plain_json_object(client):
    pid = _patient(client, active=True)
    resp = _patch(client, f"Patient/{pid}", {"gender": "male", "active": None},
                  "application/merge-patch+json")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["gender"] == "male" and "active" not in body
    # fhirpy sends partial updates as a plain application/json object
    resp = _patch(client, f"Patient/{pid}", {"birthDate": "1970-01-01"}, "application/json")
    assert resp.status_code == 200 and resp.get_json()["birthDate"] == "1970-01-01"
    assert resp.get_json()["name"] == [{"family": "Chen", "given": ["Li"]}]


def test_fhirpath_patch(client):
    pid = _patient(client, active=True)
    resp = _patch(client, f"Patient/{pid}", _params(
        _op("replace", "Patient.birthDate", value="1960-01-01"),
        _op("add", "Patient", name="identifier",
            value=[{"name": "system", "valueUri": "urn:ex:mrn"},
                   {"name": "value", "valueString": "MRN-1"}]),
        _op("insert", "Patient.name.first().given", value="Ann", index=0),
        _op("delete", "Patient.active")), FHIR)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["birthDate"] == "1960-01-01" and "active" not in body
    assert body["identifier"] == [{"system": "urn:ex:mrn", "value": "MRN-1"}]  # a list: 0..*
    assert body["name"][0]["given"] == ["Ann", "Li"]


def test_fhirpath_patch_that_cannot_apply_names_the_operation(client):
    pid = _patient(client)
    resp = _patch(client, f"Patient/{pid}", _params(
        _op("replace", "Patient.birthDate", value="1960-01-01"),
        _op("replace", "Patient.deceased", value="x")), FHIR)
    assert resp.status_code == 422
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Parameters.parameter[1]"]
    assert "matches 0 elements" in issue["details"]["text"]


def test_patched_result_is_validated(client):
    pid = _patient(client)
    resp = _patch(client, f"Patient/{pid}", [
        {"op": "replace", "path": "/gender", "value": "robot"}], "application/json-patch+json")
    assert resp.status_code == 422
    assert any("Patient.gender" in e for i in resp.get_json()["issue"]
               for e in i.get("expression", []))
    resp = _patch(client, f"Patient/{pid}", [
        {"op": "replace", "path": "/id", "value": "other"}], "application/json-patch+json")
    assert resp.status_code == 422
    assert client.get(f"/fhir/Patient/{pid}").get_json()["meta"]["versionId"] == "1"


def test_if_match_and_missing_targets(client):
    pid = _patient(client)
    doc = [{"op": "replace", "path": "/birthDate", "value": "1962-05-03"}]
    resp = _patch(client, f"Patient/{pid}", doc, "application/json-patch+json",
                  **{"If-Match": 'W/"7"'})
    assert resp.status_code == 412
    resp = _patch(client, f"Patient/{pid}", doc, "application/json-patch+json",
                  **{"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert _patch(client, "Patient/no-such", doc,
                  "application/json-patch+json").status_code == 404
    assert client.delete(f"/fhir/Patient/{pid}").status_code in (200, 204)
    assert _patch(client, f"Patient/{pid}", doc,
                  "application/json-patch+json").status_code == 410
    assert _patch(client, f"Patient/{pid}", doc, "text/plain").status_code == 415


def test_conditional_patch(client):
    _patient(client, identifier=[{"system": "urn:ex:cp", "value": "one"}])
    doc = {"gender": "other"}
    resp = _patch(client, "Patient?identifier=urn:ex:cp|one", doc, "application/merge-patch+json")
    assert resp.status_code == 200 and resp.get_json()["gender"] == "other"
    assert _patch(client, "Patient?identifier=urn:ex:cp|none", doc,
                  "application/merge-patch+json").status_code == 404
    _patient(client, identifier=[{"system": "urn:ex:cp", "value": "two"}])
    _patient(client, identifier=[{"system": "urn:ex:cp", "value": "two"}])
    assert _patch(client, "Patient?identifier=urn:ex:cp|two", doc,
                  "application/merge-patch+json").status_code == 412


def test_patch_in_transaction_and_batch(client):
    pid = _patient(client)
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(json.dumps(
                  [{"op": "replace", "path": "/birthDate", "value": "1950-01-01"}]).encode()
              ).decode()}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": binary, "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"text": "x"}, "subject": {"reference": f"Patient/{pid}"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["entry"][0]["response"]["status"].startswith("200")
    assert client.get(f"/fhir/Patient/{pid}").get_json()["birthDate"] == "1950-01-01"
    # a patch that fails makes the whole transaction fail: the Observation is not stored
    bad = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _params(_op("replace", "Patient.gender", value="nonsense")),
         "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"text": "rolled-back"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = client.post("/fhir", data=json.dumps(bad), content_type=FHIR)
    assert resp.status_code == 422
    assert resp.get_json()["issue"][0]["expression"][0].startswith("Bundle.entry[0].resource")
    assert client.get("/fhir/Observation?code:text=rolled-back").get_json().get("total") == 0
    # in a batch the failing entry fails alone
    batch = dict(bad, type="batch")
    resp = client.post("/fhir", data=json.dumps(batch), content_type=FHIR)
    statuses = [e["response"]["status"][:3] for e in resp.get_json()["entry"]]
    assert statuses == ["422", "201"]


def test_capability_statement_lists_patch(client):
    cs = client.get("/fhir/metadata").get_json()
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert "patch" in [i["code"] for i in patient["interaction"]]


# -- references inside PATCH values in a transaction (issue 9) ---------------------------------

def _binary(ctype, doc) -> dict:
    return {"resourceType": "Binary", "contentType": ctype,
            "data": base64.b64encode(json.dumps(doc).encode()).decode()}


def _observation(client, code: str) -> str:
    body = {"resourceType": "Observation", "status": "final", "code": {"text": code}}
    resp = client.post("/fhir/Observation", data=json.dumps(body), content_type=FHIR)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _tx(client, *entries):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}
    return client.post("/fhir", data=json.dumps(bundle), content_type=FHIR)


def _new_patient(urn: str, family: str) -> dict:
    return {"fullUrl": urn, "resource": {"resourceType": "Patient", "name": [{"family": family}]},
            "request": {"method": "POST", "url": "Patient"}}


def _created_id(resp, i: int = 0) -> str:
    return resp.get_json()["entry"][i]["response"]["location"].split("/")[1]


def test_urn_uuid_in_patch_values_is_rewritten_in_a_transaction(client):
    urn = "urn:uuid:5b0c1a7e-51a2-4e55-9d0e-000000000901"
    o1, o2, o3, o4 = (_observation(client, f"patch-ref-{i}") for i in range(4))
    fp = _params(
        {"name": "operation", "part": [
            {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Observation"},
            {"name": "name", "valueString": "subject"},
            {"name": "value", "valueReference": {"reference": urn}}]})
    fp_string = _params(_op("add", "Observation", name="subject", value=[
        {"name": "reference", "valueString": urn}]))
    resp = _tx(client, _new_patient(urn, "Target"),
               # JSON Patch: a reference object as the value, and a bare reference string
               {"resource": _binary("application/json-patch+json", [
                   {"op": "add", "path": "/subject", "value": {"reference": urn}}]),
                "request": {"method": "PATCH", "url": f"Observation/{o1}"}},
               {"resource": _binary("application/merge-patch+json", {
                   "subject": {"reference": urn}, "performer": [{"reference": urn}]}),
                "request": {"method": "PATCH", "url": f"Observation/{o2}"}},
               {"resource": fp, "request": {"method": "PATCH", "url": f"Observation/{o3}"}},
               {"resource": fp_string, "request": {"method": "PATCH",
                                                   "url": f"Observation/{o4}"}})
    assert resp.status_code == 200, resp.get_json()
    pid = _created_id(resp)
    want = f"Patient/{pid}"
    got = {o: client.get(f"/fhir/Observation/{o}").get_json() for o in (o1, o2, o3, o4)}
    assert got[o1]["subject"] == {"reference": want}
    assert got[o2]["subject"] == {"reference": want}
    assert got[o2]["performer"] == [{"reference": want}]
    assert got[o3]["subject"] == {"reference": want}
    assert got[o4]["subject"] == {"reference": want}
    # and the index follows: the patched Observations are found by the new Patient
    found = client.get(f"/fhir/Observation?subject={want}").get_json()
    assert sorted(e["resource"]["id"] for e in found.get("entry", [])) == sorted([o1, o2, o3, o4])


def test_bare_reference_strings_in_patch_values_are_rewritten(client):
    urn = "urn:uuid:5b0c1a7e-51a2-4e55-9d0e-000000000902"
    o1 = _observation(client, "patch-ref-str-1")
    o2 = _observation(client, "patch-ref-str-2")
    client.patch(f"/fhir/Observation/{o1}", data=json.dumps(
        [{"op": "add", "path": "/subject", "value": {"reference": "Patient/placeholder"}}]),
        content_type="application/json-patch+json")
    client.patch(f"/fhir/Observation/{o2}", data=json.dumps(
        [{"op": "add", "path": "/subject", "value": {"reference": "Patient/placeholder"}}]),
        content_type="application/json-patch+json")
    resp = _tx(client, _new_patient(urn, "Bare"),
               {"resource": _binary("application/json-patch+json", [
                   {"op": "replace", "path": "/subject/reference", "value": urn}]),
                "request": {"method": "PATCH", "url": f"Observation/{o1}"}},
               {"resource": _params(_op("replace", "Observation.subject.reference",
                                        value=urn)),
                "request": {"method": "PATCH", "url": f"Observation/{o2}"}})
    assert resp.status_code == 200, resp.get_json()
    want = f"Patient/{_created_id(resp)}"
    assert client.get(f"/fhir/Observation/{o1}").get_json()["subject"]["reference"] == want
    assert client.get(f"/fhir/Observation/{o2}").get_json()["subject"]["reference"] == want


def test_patch_values_resolve_aliases_conditional_references_and_fail_on_unknown_urns(client):
    # a urn created by an earlier transaction resolves (the alias table), as in a resource
    urn = "urn:uuid:5b0c1a7e-51a2-4e55-9d0e-000000000903"
    first = _tx(client, _new_patient(urn, "Earlier"))
    assert first.status_code == 200, first.get_json()
    earlier = _created_id(first)
    o1 = _observation(client, "patch-ref-alias")
    resp = _tx(client, {"resource": _binary("application/merge-patch+json",
                                            {"subject": {"reference": urn}}),
                        "request": {"method": "PATCH", "url": f"Observation/{o1}"}})
    assert resp.status_code == 200, resp.get_json()
    assert client.get(f"/fhir/Observation/{o1}").get_json()["subject"] == {
        "reference": f"Patient/{earlier}"}
    # a conditional reference in a patch value: exactly one match
    pid = _patient(client, identifier=[{"system": "urn:ex:patch-ref", "value": "cond-1"}])
    resp = _tx(client, {"resource": _binary("application/json-patch+json", [
        {"op": "replace", "path": "/subject",
         "value": {"reference": "Patient?identifier=urn:ex:patch-ref|cond-1"}}]),
        "request": {"method": "PATCH", "url": f"Observation/{o1}"}})
    assert resp.status_code == 200, resp.get_json()
    assert client.get(f"/fhir/Observation/{o1}").get_json()["subject"] == {
        "reference": f"Patient/{pid}"}
    # a urn that is neither an entry nor known: 404 naming the entry, nothing changed
    resp = _tx(client, {"resource": _binary("application/merge-patch+json", {
        "subject": {"reference": "urn:uuid:5b0c1a7e-51a2-4e55-9d0e-00000000dead"}}),
        "request": {"method": "PATCH", "url": f"Observation/{o1}"}})
    assert resp.status_code == 404, resp.get_json()
    assert resp.get_json()["issue"][0]["expression"][0].startswith("Bundle.entry[0]")
    assert client.get(f"/fhir/Observation/{o1}").get_json()["subject"] == {
        "reference": f"Patient/{pid}"}
