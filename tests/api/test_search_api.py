"""Search through the HTTP API (the engine itself is tested in tests/*/search)."""
from __future__ import annotations

import json
import uuid

FHIR = "application/fhir+json"


def post(client, body, **headers):
    r = client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body), content_type=FHIR,
                    headers=headers)
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def seed(client):
    tag = uuid.uuid4().hex[:10]
    pat = post(client, {"resourceType": "Patient", "name": [{"family": f"Zoë{tag}"}],
                        "identifier": [{"system": "urn:mrn", "value": tag}],
                        "birthDate": "1958-06-01"})
    obs = []
    for value, date in ((8.1, "2019-03-04"), (10.9, "2020-05-06")):
        obs.append(post(client, {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]},
            "subject": {"reference": f"Patient/{pat['id']}"}, "effectiveDateTime": date,
            "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                              "code": "mg/dL"}}))
    return tag, pat, obs


def ids(bundle, mode="match"):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", [])
                  if e.get("search", {}).get("mode") == mode)


def test_get_and_post_search_agree(client):
    tag, pat, obs = seed(client)
    q = f"subject=Patient/{pat['id']}&code=http://loinc.org|17861-6&date=ge2020"
    got = client.get(f"/fhir/Observation?{q}").get_json()
    assert got["type"] == "searchset" and ids(got) == [obs[1]["id"]]
    posted = client.post("/fhir/Observation/_search", data=q,
                         content_type="application/x-www-form-urlencoded").get_json()
    assert ids(posted) == ids(got)


def test_string_search_is_accent_insensitive_prefix(client):
    tag, pat, _ = seed(client)
    got = client.get(f"/fhir/Patient?family=zoe{tag[:4]}").get_json()
    assert ids(got) == [pat["id"]]


def test_include_and_compartment_and_everything(client):
    tag, pat, obs = seed(client)
    got = client.get(f"/fhir/Observation?subject=Patient/{pat['id']}&_include=Observation:subject"
                     ).get_json()
    assert ids(got) == sorted(o["id"] for o in obs) and ids(got, "include") == [pat["id"]]
    comp = client.get(f"/fhir/Patient/{pat['id']}/Observation").get_json()
    assert ids(comp) == sorted(o["id"] for o in obs)
    every = client.get(f"/fhir/Patient/{pat['id']}/$everything").get_json()
    found = {e["resource"]["id"] for e in every["entry"]}
    assert {pat["id"], *(o["id"] for o in obs)} <= found


def test_malformed_value_and_strict_handling(client):
    bad = client.get("/fhir/Observation?date=notadate")
    assert bad.status_code == 400
    assert "date" in json.dumps(bad.get_json())
    lenient = client.get("/fhir/Observation?bogus=1&_count=1")
    assert lenient.status_code == 200
    strict = client.get("/fhir/Observation?bogus=1", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_summary_count(client):
    tag, pat, obs = seed(client)
    got = client.get(f"/fhir/Observation?subject=Patient/{pat['id']}&_summary=count").get_json()
    assert got["total"] == 2 and not got.get("entry")


def test_conditional_create_uses_any_search_parameter(client):
    tag = uuid.uuid4().hex[:8]
    body = {"resourceType": "Patient", "name": [{"family": f"Cond{tag}"}], "birthDate": "1950-01-01"}
    first = client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR,
                        headers={"If-None-Exist": f"family:exact=Cond{tag}&birthdate=1950-01-01"})
    again = client.post("/fhir/Patient", data=json.dumps(body), content_type=FHIR,
                        headers={"If-None-Exist": f"family:exact=Cond{tag}&birthdate=1950-01-01"})
    assert (first.status_code, again.status_code) == (201, 200)


def test_capability_lists_search_parameters(client):
    cs = client.get("/fhir/metadata").get_json()
    obs = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Observation")
    names = {p["name"] for p in obs["searchParam"]}
    assert {"code", "subject", "date", "value-quantity", "_id", "_lastUpdated"} <= names
    assert "search-type" in {i["code"] for i in obs["interaction"]}


def test_summary_and_elements_in_search(client):
    tag, pat, obs = seed(client)
    got = client.get(f"/fhir/Patient?_id={pat['id']}&_summary=true").get_json()
    res = got["entry"][0]["resource"]
    assert res["name"] and any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])
    assert not [e for e in got["entry"] if e["search"]["mode"] == "outcome"]
    got = client.get(f"/fhir/Observation?subject=Patient/{pat['id']}&_elements=valueQuantity"
                     ).get_json()
    res = got["entry"][0]["resource"]
    # mandatory elements (status, code) stay, the rest goes
    assert set(res) == {"resourceType", "id", "meta", "status", "code", "valueQuantity"}


def test_reference_search_with_a_version_matches_only_that_version(client):
    """issue: `Provenance?target=Patient/1/_history/2` matched the Provenance of every version.
    A versioned reference matches only references naming that version; an unversioned one
    matches all of them (and references without a version)."""
    pat = post(client, {"resourceType": "Patient", "name": [{"family": "Versioned"}]})
    pid = pat["id"]
    r = client.put(f"/fhir/Patient/{pid}", data=json.dumps({**pat, "gender": "female"}),
                   content_type=FHIR)
    assert r.status_code == 200 and r.get_json()["meta"]["versionId"] == "2"

    def provenance(ref):
        return post(client, {"resourceType": "Provenance", "target": [{"reference": ref}],
                             "recorded": "2024-01-01T00:00:00Z",
                             "agent": [{"who": {"display": "test"}}]})["id"]
    v1 = provenance(f"Patient/{pid}/_history/1")
    v2 = provenance(f"Patient/{pid}/_history/2")
    plain = provenance(f"Patient/{pid}")
    # the server's own Provenance of each write names the version it wrote
    own = {e["resource"]["id"]: e["resource"]["target"] for e in client.get(
        f"/fhir/Provenance?target=Patient/{pid}&_count=100").get_json()["entry"]}
    own_v2 = sorted(k for k, targets in own.items() if k not in (v1, v2, plain)
                    and any(t["reference"] == f"Patient/{pid}/_history/2" for t in targets))

    def found(query):
        return sorted(e["resource"]["id"] for e in client.get(
            f"/fhir/Provenance?{query}&_count=100").get_json().get("entry", []))
    assert own_v2  # the PUT's
    assert found(f"target=Patient/{pid}/_history/2") == sorted([v2] + own_v2)
    assert v1 in found(f"target=Patient/{pid}/_history/1")
    assert v2 not in found(f"target=Patient/{pid}/_history/1")
    assert found(f"target=Patient/{pid}/_history/9") == []
    assert {v1, v2, plain} <= set(found(f"target=Patient/{pid}"))
    # the own base, absolute, and a typed modifier
    assert v2 in found(f"target=http://localhost/fhir/Patient/{pid}/_history/2")
    assert found(f"target:Patient={pid}") == found(f"target=Patient/{pid}")
    bad = client.get(f"/fhir/Provenance?target=Patient/{pid}/_history/")
    assert bad.status_code == 400
    assert "target" in json.dumps(bad.get_json())
