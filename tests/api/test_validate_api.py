"""$validate, the write gate, strict mode and conformance resources stored through REST."""
from __future__ import annotations

import json
import uuid

import pytest

from fhirsvc import create_app

FHIR = "application/fhir+json"
HR_OBS = {"resourceType": "Observation", "status": "final",
          "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs"}]}],
          "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
          "subject": {"reference": "Patient/x"}, "effectiveDateTime": "2024-01-01",
          "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                            "code": "/min"}}


def call(client, path, body):
    return client.post(path, data=json.dumps(body), content_type=FHIR)


def errors(outcome):
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_validate_type_level_resource_body(client):
    resp = call(client, "/fhir/Observation/$validate", HR_OBS)
    assert resp.status_code == 200 and not errors(resp.get_json())
    bad = dict(HR_OBS, status="done")
    resp = call(client, "/fhir/Observation/$validate", bad)
    assert resp.status_code == 200
    found = errors(resp.get_json())
    assert [(i["code"], i["expression"]) for i in found] == [("code-invalid",
                                                             ["Observation.status"])]
    assert "'done'" in found[0]["details"]["text"]


def test_validate_parameters_with_profile_and_mode(client):
    no_value = {k: v for k, v in HR_OBS.items() if k != "valueQuantity"}
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": no_value},
        {"name": "profile", "valueUri": "http://hl7.org/fhir/StructureDefinition/heartrate"},
        {"name": "mode", "valueCode": "create"}]}
    resp = call(client, "/fhir/Observation/$validate", params)
    assert resp.status_code == 200
    # heartrate (through vital signs) requires a value or a dataAbsentReason: vs-2
    found = errors(resp.get_json())
    assert [(i["code"], i["expression"]) for i in found] == [("invariant", ["Observation"])]
    assert found[0]["details"]["text"].startswith("Constraint failed: vs-2")
    params["parameter"][2]["valueCode"] = "nonsense"
    assert call(client, "/fhir/Observation/$validate", params).status_code == 400


def test_validate_instance_level(client):
    rid = call(client, "/fhir/Observation", HR_OBS).get_json()["id"]
    resp = call(client, f"/fhir/Observation/{rid}/$validate", dict(HR_OBS, id=rid))
    assert resp.status_code == 200 and not errors(resp.get_json())
    params = {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "delete"}]}
    assert call(client, f"/fhir/Observation/{rid}/$validate", params).status_code == 200
    assert call(client, "/fhir/Observation/nope/$validate", params).status_code == 404


def test_gate_refuses_invalid_write_with_location(client):
    bad = dict(HR_OBS, status="done")
    resp = call(client, "/fhir/Observation", bad)
    assert resp.status_code == 422
    assert [(i["code"], i["expression"]) for i in errors(resp.get_json())] == [
        ("code-invalid", ["Observation.status"])]


def test_profile_stored_through_rest_is_used_by_validation(client):
    url = f"http://example.org/fhir/StructureDefinition/needs-birthdate-{uuid.uuid4().hex[:6]}"
    profile = {"resourceType": "StructureDefinition", "url": url, "name": "NeedsBirthDate",
               "status": "active", "kind": "resource", "abstract": False, "type": "Patient",
               "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
               "derivation": "constraint",
               "differential": {"element": [{"id": "Patient.birthDate", "path": "Patient.birthDate",
                                             "min": 1}]}}
    assert call(client, "/fhir/StructureDefinition", profile).status_code == 201
    claims = {"resourceType": "Patient", "meta": {"profile": [url]}}
    resp = call(client, "/fhir/Patient", claims)
    assert resp.status_code == 422
    found = errors(resp.get_json())
    assert len(found) == 1 and found[0]["code"] == "required"
    assert "Patient.birthDate" in found[0]["details"]["text"]
    claims["birthDate"] = "1970-01-01"
    assert call(client, "/fhir/Patient", claims).status_code == 201


@pytest.fixture(scope="module")
def strict_client(config):
    app = create_app(config.with_(require_guide_profiles=True))
    yield app.test_client()
    app.extensions["fhirsvc.runtime"].close()


def test_strict_mode_requires_guide_profiles(strict_client):
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/x"},
                 "code": {"text": "calcinosis"}}
    resp = call(strict_client, "/fhir/Condition", condition)
    assert resp.status_code == 422
    # a type the guide does not profile is not affected
    assert call(strict_client, "/fhir/Basic", {"resourceType": "Basic",
                                               "code": {"text": "x"}}).status_code == 201
