"""Observation/$lastn (R4): the newest `max` Observations per patient and code, filtered by
patient, category and code. Both databases."""
from __future__ import annotations

import json
import uuid

FHIR = "application/fhir+json"
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                   "code": "laboratory"}]}
VITAL = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                     "code": "vital-signs"}]}


def _post(client, body) -> str:
    resp = client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body), content_type=FHIR)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _obs(client, pid, code, when, category=LAB, value=1.0) -> str:
    return _post(client, {
        "resourceType": "Observation", "status": "final", "category": [category],
        "code": {"coding": [{"system": "urn:ex:lastn", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
        "valueQuantity": {"value": value}})


def _seed(client):
    tag = uuid.uuid4().hex[:8]
    p1 = _post(client, {"resourceType": "Patient", "identifier": [{"value": tag + "a"}]})
    p2 = _post(client, {"resourceType": "Patient", "identifier": [{"value": tag + "b"}]})
    ids = {
        "p1-crp-2020": _obs(client, p1, "crp", "2020-01-01"),
        "p1-crp-2022": _obs(client, p1, "crp", "2022-01-01"),
        "p1-crp-2021": _obs(client, p1, "crp", "2021-06-01T10:00:00Z"),
        "p1-hb-2019": _obs(client, p1, "hb", "2019-01-01"),
        "p1-bp-2023": _obs(client, p1, "bp", "2023-01-01", category=VITAL),
        "p2-crp-2018": _obs(client, p2, "crp", "2018-01-01"),
    }
    return p1, p2, ids


def _ids(bundle):
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_lastn_newest_per_code_for_a_patient(client):
    p1, p2, ids = _seed(client)
    resp = client.get(f"/fhir/Observation/$lastn?patient={p1}&category=laboratory")
    assert resp.status_code == 200, resp.get_json()
    got = _ids(resp.get_json())
    assert sorted(got) == sorted([ids["p1-crp-2022"], ids["p1-hb-2019"]])
    got = _ids(client.get(f"/fhir/Observation/$lastn?patient={p1}&max=2"
                          "&category=laboratory").get_json())
    assert sorted(got) == sorted([ids["p1-crp-2022"], ids["p1-crp-2021"], ids["p1-hb-2019"]])
    # newest first within a code
    assert got.index(ids["p1-crp-2022"]) < got.index(ids["p1-crp-2021"])


def test_lastn_groups_by_patient_and_filters_by_code(client):
    p1, p2, ids = _seed(client)
    got = _ids(client.get(f"/fhir/Observation/$lastn?code=urn:ex:lastn|crp"
                          f"&subject=Patient/{p1},Patient/{p2}").get_json())
    assert sorted(got) == sorted([ids["p1-crp-2022"], ids["p2-crp-2018"]])
    got = _ids(client.get(f"/fhir/Observation/$lastn?patient={p1}"
                          "&category=vital-signs").get_json())
    assert got == [ids["p1-bp-2023"]]


def test_lastn_bad_parameters(client):
    assert client.get("/fhir/Observation/$lastn?max=0").status_code == 400
    assert client.get("/fhir/Observation/$lastn?max=abc").status_code == 400
    assert client.get("/fhir/Observation/$lastn?nonsense=1").status_code == 400
    cs = client.get("/fhir/metadata").get_json()
    obs = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Observation")
    assert "lastn" in [o["name"] for o in obs["operation"]]
