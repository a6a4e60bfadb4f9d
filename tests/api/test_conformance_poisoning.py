"""Conformance resources through the API: a write reusing a built-in canonical URL (R4 core
or the guide) is a 422 naming the URL; such a resource already stored is never applied; and
deleting a stored conformance resource unloads it from every worker (a second app on the same
database stands for another worker process). Both databases."""
from __future__ import annotations

import json

import pytest

from fhirsvc import create_app

FHIR = "application/fhir+json"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"


def _poison_vs(url=GENDER_VS + "|4.0.1") -> dict:
    return {"resourceType": "ValueSet", "url": url, "status": "active",
            "compose": {"include": [{"system": "http://hl7.org/fhir/administrative-gender",
                                     "concept": [{"code": "female"}]}]},
            "expansion": {"timestamp": "2024-01-01T00:00:00Z", "contains": [
                {"system": "http://hl7.org/fhir/administrative-gender", "code": "female"}]}}


def _male(client):
    return client.post("/fhir/Patient", data=json.dumps(
        {"resourceType": "Patient", "gender": "male"}), content_type=FHIR)


@pytest.fixture(scope="module")
def other_worker(config):
    app = create_app(config)
    app.testing = False
    yield app.test_client()
    app.extensions["fhirsvc.runtime"].close()


@pytest.mark.parametrize("url", [GENDER_VS + "|4.0.1", GENDER_VS])
def test_reusing_a_core_canonical_is_422_naming_it(client, url):
    resp = client.post("/fhir/ValueSet", data=json.dumps(_poison_vs(url)), content_type=FHIR)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    issue = resp.get_json()["issue"][0]
    assert url in issue["details"]["text"] and issue["expression"] == ["ValueSet.url"]
    resp = client.put("/fhir/ValueSet/poison", data=json.dumps(dict(_poison_vs(url),
                      id="poison")), content_type=FHIR)
    assert resp.status_code == 422
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _poison_vs(url), "request": {"method": "POST", "url": "ValueSet"}}]}
    resp = client.post("/fhir", data=json.dumps(bundle), content_type=FHIR)
    assert resp.status_code == 422
    assert resp.get_json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.url"]
    assert _male(client).status_code == 201


def test_core_search_parameter_and_structure_definition_are_protected(client):
    sp = {"resourceType": "SearchParameter", "url": "http://hl7.org/fhir/SearchParameter/"
          "individual-gender", "name": "gender", "status": "active", "code": "gender",
          "base": ["Patient"], "type": "token", "expression": "Patient.id",
          "description": "x"}
    assert client.post("/fhir/SearchParameter", data=json.dumps(sp),
                       content_type=FHIR).status_code == 422
    sd = {"resourceType": "StructureDefinition",
          "url": "http://hl7.org/fhir/StructureDefinition/Patient", "name": "Patient",
          "status": "active", "kind": "resource", "abstract": False, "type": "Patient"}
    assert client.post("/fhir/StructureDefinition", data=json.dumps(sd),
                       content_type=FHIR).status_code == 422


def test_a_poisoned_resource_stored_earlier_is_not_applied(client, runtime):
    with runtime.db.unit_of_work(write=True) as uow:   # as a database written before the fix
        uow.resources.create_many([("ValueSet", "old-poison", _poison_vs(), "POST")])
        uow.commit()
    assert _male(client).status_code == 201


def test_deleting_a_stored_search_parameter_unloads_it_everywhere(client, other_worker):
    sp = {"resourceType": "SearchParameter", "url": "urn:ex:sp:nickname", "name": "nickname",
          "status": "active", "code": "nickname", "base": ["Patient"], "type": "string",
          "expression": "Patient.name.text", "description": "nickname"}
    sid = client.post("/fhir/SearchParameter", data=json.dumps(sp),
                      content_type=FHIR).get_json()["id"]
    strict = {"Prefer": "handling=strict"}
    for c in (client, other_worker):
        assert c.get("/fhir/Patient?nickname=x", headers=strict).status_code == 200
    assert client.delete(f"/fhir/SearchParameter/{sid}").status_code in (200, 204)
    for c in (client, other_worker):
        assert c.get("/fhir/Patient?nickname=x", headers=strict).status_code == 400


def test_deleting_a_stored_value_set_unloads_it(client, other_worker, runtime):
    url = "urn:ex:vs:colours"
    vs = {"resourceType": "ValueSet", "url": url, "status": "active",
          "expansion": {"timestamp": "2024-01-01T00:00:00Z",
                        "contains": [{"system": "urn:ex:colour", "code": "red"}]}}
    vid = client.post("/fhir/ValueSet", data=json.dumps(vs), content_type=FHIR).get_json()["id"]
    other_rt = other_worker.application.extensions["fhirsvc.runtime"]
    for c in (client, other_worker):
        c.get("/fhir/metadata")  # each worker catches up
    for rt in (runtime, other_rt):
        assert rt.definitions.state.valuesets.get(url) is not None
    client.delete(f"/fhir/ValueSet/{vid}")
    other_worker.get("/fhir/metadata")
    client.get("/fhir/metadata")
    for rt in (runtime, other_rt):
        assert rt.definitions.state.valuesets.get(url) is None
