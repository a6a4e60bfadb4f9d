"""RESTful interactions on single resources (R4 http.html), on SQLite and PostgreSQL."""
from __future__ import annotations

import email.utils
import json
import time

import pytest

FHIR = "application/fhir+json"


def patient(**extra) -> dict:
    res = {"resourceType": "Patient", "name": [{"family": "Chen", "given": ["Li"]}],
           "gender": "female", "birthDate": "1961-04-02"}
    res.update(extra)
    return res


def post(client, rtype, body, **headers):
    return client.post(f"/fhir/{rtype}", data=json.dumps(body), content_type=FHIR,
                       headers=headers)


def put(client, path, body, **headers):
    return client.put(f"/fhir/{path}", data=json.dumps(body), content_type=FHIR,
                      headers=headers)


def created_id(resp) -> str:
    return resp.headers["Location"].split("/fhir/")[1].split("/")[1]


def issues(resp) -> list[dict]:
    body = resp.get_json(force=True)
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"]


# -- capability -------------------------------------------------------------------------------
def test_metadata_lists_what_is_routed(client):
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200
    assert resp.mimetype == FHIR
    cs = resp.get_json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    system = {i["code"] for i in rest["interaction"]}
    assert {"transaction", "batch", "history-system"} <= system
    patient_entry = next(r for r in rest["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient_entry["interaction"]}
    assert {"read", "vread", "update", "delete", "create", "history-instance",
            "history-type"} <= codes
    assert patient_entry["conditionalDelete"] == "single"
    assert len(rest["resource"]) == 146  # every R4 resource type can be stored


# -- create / read / vread ----------------------------------------------------------------------
def test_create_assigns_id_version_and_headers(client):
    resp = post(client, "Patient", patient(id="client-chosen"))
    assert resp.status_code == 201
    rid = created_id(resp)
    assert rid != "client-chosen"  # create ignores a client id
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"].endswith(f"/fhir/Patient/{rid}/_history/1")
    assert email.utils.parsedate_to_datetime(resp.headers["Last-Modified"])
    body = resp.get_json()
    assert body["id"] == rid and body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")


def test_read_serves_the_stored_text(client):
    rid = created_id(post(client, "Patient", patient()))
    first = client.get(f"/fhir/Patient/{rid}")
    second = client.get(f"/fhir/Patient/{rid}")
    assert first.status_code == 200 and first.data == second.data
    assert first.headers["ETag"] == 'W/"1"'
    assert first.get_json()["name"][0]["family"] == "Chen"


def test_vread_and_unknown_version(client):
    rid = created_id(post(client, "Patient", patient()))
    put(client, f"Patient/{rid}", patient(id=rid, gender="male"))
    v1 = client.get(f"/fhir/Patient/{rid}/_history/1")
    v2 = client.get(f"/fhir/Patient/{rid}/_history/2")
    assert v1.get_json()["gender"] == "female" and v2.get_json()["gender"] == "male"
    assert client.get(f"/fhir/Patient/{rid}/_history/9").status_code == 404
    assert client.get(f"/fhir/Patient/{rid}/_history/x").status_code == 404


def test_read_unknown_is_404_outcome(client):
    resp = client.get("/fhir/Patient/does-not-exist")
    assert resp.status_code == 404
    assert issues(resp)[0]["code"] == "not-found"


def test_unknown_type_is_404(client):
    resp = client.get("/fhir/Patientx/1")
    assert resp.status_code == 404
    assert "Patientx" in issues(resp)[0]["details"]["text"]


# -- update -----------------------------------------------------------------------------------
def test_update_versions_and_create_on_update(client):
    resp = put(client, "Patient/pat-upd-1", patient(id="pat-upd-1"))
    assert resp.status_code == 201 and resp.headers["ETag"] == 'W/"1"'
    resp = put(client, "Patient/pat-upd-1", patient(id="pat-upd-1", gender="other"))
    assert resp.status_code == 200 and resp.headers["ETag"] == 'W/"2"'
    assert resp.get_json()["meta"]["versionId"] == "2"


def test_update_id_mismatch_and_missing_id(client):
    resp = put(client, "Patient/a1", patient(id="b2"))
    assert resp.status_code == 400
    assert issues(resp)[0]["expression"] == ["Patient.id"]
    resp = put(client, "Patient/a1", patient())
    assert resp.status_code == 400


def test_update_invalid_id_rejected(client):
    resp = put(client, "Patient/bad_id", patient(id="bad_id"))
    assert resp.status_code == 400


def test_if_match(client):
    put(client, "Patient/pat-ifm", patient(id="pat-ifm"))
    resp = put(client, "Patient/pat-ifm", patient(id="pat-ifm"), **{"If-Match": 'W/"7"'})
    assert resp.status_code == 412
    assert client.get("/fhir/Patient/pat-ifm").headers["ETag"] == 'W/"1"'  # nothing written
    resp = put(client, "Patient/pat-ifm", patient(id="pat-ifm"), **{"If-Match": 'W/"1"'})
    assert resp.status_code == 200 and resp.headers["ETag"] == 'W/"2"'
    resp = client.delete("/fhir/Patient/pat-ifm", headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 412
    resp = client.delete("/fhir/Patient/pat-ifm", headers={"If-Match": 'W/"2"'})
    assert resp.status_code == 204


# -- delete -----------------------------------------------------------------------------------
def test_delete_then_gone_then_recreate(client):
    rid = created_id(post(client, "Patient", patient()))
    assert client.delete(f"/fhir/Patient/{rid}").status_code == 204
    gone = client.get(f"/fhir/Patient/{rid}")
    assert gone.status_code == 410 and issues(gone)[0]["code"] == "deleted"
    assert gone.headers["ETag"] == 'W/"2"'
    # idempotent: deleting again changes nothing
    assert client.delete(f"/fhir/Patient/{rid}").status_code == 204
    hist = client.get(f"/fhir/Patient/{rid}/_history").get_json()
    assert hist["total"] == 2
    assert hist["entry"][0]["request"]["method"] == "DELETE"
    assert "resource" not in hist["entry"][0]
    # the deleted version is still readable by version
    assert client.get(f"/fhir/Patient/{rid}/_history/1").status_code == 200
    assert client.get(f"/fhir/Patient/{rid}/_history/2").status_code == 410
    resp = put(client, f"Patient/{rid}", patient(id=rid))
    assert resp.status_code == 201 and resp.headers["ETag"] == 'W/"3"'


# -- conditional read -------------------------------------------------------------------------
def test_if_none_match_and_if_modified_since(client):
    rid = created_id(post(client, "Patient", patient()))
    assert client.get(f"/fhir/Patient/{rid}", headers={"If-None-Match": 'W/"1"'}
                      ).status_code == 304
    assert client.get(f"/fhir/Patient/{rid}", headers={"If-None-Match": 'W/"0"'}
                      ).status_code == 200
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    earlier = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert client.get(f"/fhir/Patient/{rid}", headers={"If-Modified-Since": later}
                      ).status_code == 304
    assert client.get(f"/fhir/Patient/{rid}", headers={"If-Modified-Since": earlier}
                      ).status_code == 200


# -- conditional create / update / delete -----------------------------------------------------
def ident(value: str, system: str = "urn:oid:1.2.3.4") -> dict:
    return {"identifier": [{"system": system, "value": value}]}


def test_conditional_create(client):
    first = post(client, "Patient", patient(**ident("cc-1")),
                 **{"If-None-Exist": "identifier=urn:oid:1.2.3.4|cc-1"})
    assert first.status_code == 201
    again = post(client, "Patient", patient(**ident("cc-1")),
                 **{"If-None-Exist": "identifier=urn:oid:1.2.3.4|cc-1"})
    assert again.status_code == 200
    assert created_id(first) == again.get_json()["id"]
    post(client, "Patient", patient(**ident("cc-2")))
    post(client, "Patient", patient(**ident("cc-2")))
    many = post(client, "Patient", patient(**ident("cc-2")),
                **{"If-None-Exist": "identifier=urn:oid:1.2.3.4|cc-2"})
    assert many.status_code == 412
    assert issues(many)[0]["code"] == "multiple-matches"


def test_conditional_update(client):
    resp = put(client, "Patient?identifier=urn:oid:1.2.3.4|cu-1", patient(**ident("cu-1")))
    assert resp.status_code == 201
    rid = resp.get_json()["id"]
    resp = put(client, "Patient?identifier=urn:oid:1.2.3.4|cu-1",
               patient(gender="male", **ident("cu-1")))
    assert resp.status_code == 200 and resp.get_json()["id"] == rid
    assert resp.headers["ETag"] == 'W/"2"'
    resp = put(client, "Patient?identifier=urn:oid:1.2.3.4|cu-1",
               patient(id="someone-else", **ident("cu-1")))
    assert resp.status_code == 400
    post(client, "Patient", patient(**ident("cu-1")))
    resp = put(client, "Patient?identifier=urn:oid:1.2.3.4|cu-1", patient(**ident("cu-1")))
    assert resp.status_code == 412


def test_conditional_delete(client):
    rid = created_id(post(client, "Patient", patient(**ident("cd-1"))))
    assert client.delete("/fhir/Patient?identifier=urn:oid:1.2.3.4|cd-1").status_code == 204
    assert client.get(f"/fhir/Patient/{rid}").status_code == 410
    # no match: nothing to do
    assert client.delete("/fhir/Patient?identifier=urn:oid:1.2.3.4|cd-none").status_code == 204
    post(client, "Patient", patient(**ident("cd-2")))
    post(client, "Patient", patient(**ident("cd-2")))
    assert client.delete("/fhir/Patient?identifier=urn:oid:1.2.3.4|cd-2").status_code == 412


def test_conditional_with_unknown_parameter_is_400(client):
    resp = post(client, "Patient", patient(), **{"If-None-Exist": "nonsense-param=1"})
    assert resp.status_code == 400


# -- history ----------------------------------------------------------------------------------
def test_history_levels_count_and_since(client):
    put(client, "Observation/hist-o1", {
        "resourceType": "Observation", "id": "hist-o1", "status": "final",
        "code": {"text": "calcium"}})
    for _ in range(3):
        put(client, "Observation/hist-o1", {
            "resourceType": "Observation", "id": "hist-o1", "status": "amended",
            "code": {"text": "calcium"}})
    inst = client.get("/fhir/Observation/hist-o1/_history").get_json()
    assert inst["type"] == "history" and inst["total"] == 4
    assert [e["response"]["etag"] for e in inst["entry"]] == ['W/"4"', 'W/"3"', 'W/"2"',
                                                              'W/"1"']
    page = client.get("/fhir/Observation/hist-o1/_history?_count=2").get_json()
    assert len(page["entry"]) == 2
    nxt = next(l["url"] for l in page["link"] if l["relation"] == "next")
    page2 = client.get(nxt.split("localhost")[1]).get_json()
    assert [e["response"]["etag"] for e in page2["entry"]] == ['W/"2"', 'W/"1"']
    since = inst["entry"][2]["resource"]["meta"]["lastUpdated"]
    recent = client.get(f"/fhir/Observation/hist-o1/_history?_since={since}").get_json()
    assert recent["total"] == 3
    typ = client.get("/fhir/Observation/_history").get_json()
    assert typ["total"] >= 4
    assert all(e["fullUrl"].split("/fhir/")[1].startswith("Observation/") for e in typ["entry"])
    system = client.get("/fhir/_history?_count=5").get_json()
    assert len(system["entry"]) == 5
    assert client.get("/fhir/_history?_since=yesterday").status_code == 400
    assert client.get("/fhir/Observation/none/_history").status_code == 404


# -- Prefer, formats --------------------------------------------------------------------------
def test_prefer_return(client):
    resp = post(client, "Patient", patient(), Prefer="return=minimal")
    assert resp.status_code == 201 and resp.data == b"" and resp.headers["Location"]
    resp = post(client, "Patient", patient(), Prefer="return=OperationOutcome")
    assert resp.status_code == 201 and resp.get_json()["resourceType"] == "OperationOutcome"
    resp = post(client, "Patient", patient(), Prefer="return=representation")
    assert resp.get_json()["resourceType"] == "Patient"


def test_format_and_accept(client):
    rid = created_id(post(client, "Patient", patient()))
    assert client.get(f"/fhir/Patient/{rid}?_format=json").mimetype == FHIR
    assert client.get(f"/fhir/Patient/{rid}", headers={"Accept": "application/json"}
                      ).mimetype == "application/json"
    assert client.get(f"/fhir/Patient/{rid}?_format=application/fhir+json").status_code == 200
    resp = client.get(f"/fhir/Patient/{rid}", headers={"Accept": "text/html"})
    assert resp.status_code == 406 and resp.mimetype == FHIR
    assert client.get(f"/fhir/Patient/{rid}?_format=ttl").status_code == 406
    assert client.get(f"/fhir/Patient/{rid}?_format=xml").mimetype == "application/fhir+xml"
    pretty = client.get(f"/fhir/Patient/{rid}?_pretty=true")
    assert b"\n  " in pretty.data and pretty.get_json()["id"] == rid


def test_unsupported_media_type(client):
    resp = client.post("/fhir/Patient", data="<Patient/>", content_type="application/fhir+turtle")
    assert resp.status_code == 415 and issues(resp)[0]["code"] == "not-supported"
    resp = client.post("/fhir/Patient", data="a=b", content_type="text/plain")
    assert resp.status_code == 415


def test_summary_and_elements(client):
    rid = created_id(post(client, "Patient", patient(
        text={"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
        maritalStatus={"text": "married"})))
    summary = client.get(f"/fhir/Patient/{rid}?_summary=true").get_json()
    assert "maritalStatus" not in summary and "text" not in summary
    assert summary["name"] and summary["birthDate"]
    assert any(t["code"] == "SUBSETTED" for t in summary["meta"]["tag"])
    text_only = client.get(f"/fhir/Patient/{rid}?_summary=text").get_json()
    assert set(text_only) == {"resourceType", "id", "meta", "text"}
    data = client.get(f"/fhir/Patient/{rid}?_summary=data").get_json()
    assert "text" not in data and data["maritalStatus"]
    elements = client.get(f"/fhir/Patient/{rid}?_elements=gender").get_json()
    assert set(elements) == {"resourceType", "id", "meta", "gender"}
    assert client.get(f"/fhir/Patient/{rid}?_summary=bogus").status_code == 400


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"[]", 400),
    (json.dumps({"resourceType": "Observation", "status": "final",
                 "code": {"text": "x"}}).encode(), 400),
])
def test_malformed_body(client, body, status):
    resp = client.post("/fhir/Patient", data=body, content_type=FHIR)
    assert resp.status_code == status
    assert issues(resp)[0]["severity"] == "error"


def test_json_error_names_line_and_column(client):
    resp = client.post("/fhir/Patient", data=b'{\n "resourceType": "Patient",\n "x": }',
                       content_type=FHIR)
    assert resp.status_code == 400
    assert "line 3" in issues(resp)[0]["details"]["text"]


def test_structural_validation_locates_the_problem(client):
    resp = post(client, "Patient", patient(birthDate="1970-02-30"))
    assert resp.status_code == 422
    assert "Patient.birthDate" in [e for i in issues(resp) for e in i.get("expression", [])]
    resp = post(client, "Patient", patient(unknownElement=1))
    assert resp.status_code == 422
    errors = [i for i in issues(resp) if i["severity"] == "error"]
    assert [(i["code"], i["expression"]) for i in errors] == [
        ("structure", ["Patient.unknownElement"])]
    assert "unknownElement" in errors[0]["details"]["text"]


def test_method_not_allowed_is_outcome(client):
    resp = client.put("/fhir/Patient/1/_history", data="{}", content_type=FHIR)
    assert resp.status_code == 405
    assert issues(resp)[0]["code"] == "not-supported"


def test_unknown_route_is_outcome(client):
    resp = client.get("/fhir/Patient/1/_history/1/extra")
    assert resp.status_code == 404
    assert [(i["code"], i["details"]["text"]) for i in issues(resp)] == [
        ("not-found", "No FHIR endpoint at /fhir/Patient/1/_history/1/extra")]


def test_request_too_large(client):
    big = patient(text={"status": "generated",
                        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + "x" * 3_000_000
                        + "</div>"})
    resp = post(client, "Patient", big)
    assert resp.status_code == 413 and issues(resp)[0]["code"] == "too-costly"


def test_internal_error_is_outcome_without_trace(app, client, monkeypatch):
    resources = app.extensions["fhirsvc.runtime"].services.resources

    def boom(*a, **k):
        raise RuntimeError("secret detail")
    monkeypatch.setattr(resources, "read", boom)
    resp = client.get("/fhir/Patient/whatever")
    assert resp.status_code == 500
    text = resp.get_data(as_text=True)
    assert "secret detail" not in text and "Traceback" not in text
    assert issues(resp)[0]["code"] == "exception"
