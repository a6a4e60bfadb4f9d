"""Issue 16 search features through HTTP: ValueSets and CodeSystems stored through the API are
used by :in / :below; _text, _filter and a clear 400; the CapabilityStatement says so."""
from __future__ import annotations

import json
import uuid

FHIR = "application/fhir+json"


def post(client, body):
    r = client.post(f"/fhir/{body['resourceType']}", data=json.dumps(body), content_type=FHIR)
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def ids(bundle):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", [])
                  if e.get("search", {}).get("mode") == "match")


def test_stored_valueset_and_codesystem_drive_in_and_below(client):
    tag = uuid.uuid4().hex[:8]
    cs_url = f"http://example.org/fhir/CodeSystem/site-{tag}"
    vs_url = f"http://example.org/fhir/ValueSet/hand-{tag}"
    post(client, {"resourceType": "CodeSystem", "url": cs_url, "status": "active",
                  "content": "complete", "hierarchyMeaning": "is-a",
                  "concept": [{"code": "hand", "concept": [{"code": "finger"}]},
                              {"code": "foot"}]})
    post(client, {"resourceType": "ValueSet", "url": vs_url, "status": "active",
                  "compose": {"include": [{"system": cs_url, "concept": [{"code": "finger"}]}]}})
    obs = {}
    for code in ("hand", "finger", "foot"):
        obs[code] = post(client, {"resourceType": "Observation", "status": "final",
                                  "code": {"coding": [{"system": cs_url, "code": code}]}})["id"]
    got = client.get(f"/fhir/Observation?code:in={vs_url}").get_json()
    assert ids(got) == [obs["finger"]]
    got = client.get(f"/fhir/Observation?code:below={cs_url}|hand").get_json()
    assert ids(got) == sorted([obs["hand"], obs["finger"]])
    got = client.get(f"/fhir/Observation?code:above={cs_url}|finger").get_json()
    assert ids(got) == sorted([obs["hand"], obs["finger"]])


def test_text_and_filter_over_http(client):
    tag = uuid.uuid4().hex[:8]
    pat = post(client, {"resourceType": "Patient", "name": [{"family": f"Fam{tag}"}],
                        "text": {"status": "generated",
                                 "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">w{tag}</div>"}})
    assert ids(client.get(f"/fhir/Patient?_text=w{tag}").get_json()) == [pat["id"]]
    assert ids(client.get(f"/fhir/Patient?_content=fam{tag}").get_json()) == [pat["id"]]
    q = f'family eq "fam{tag}" and not (gender eq male)'
    assert ids(client.get("/fhir/Patient", query_string={"_filter": q}).get_json()) == [pat["id"]]
    r = client.get("/fhir/Patient", query_string={"_filter": "family gt x"})
    assert r.status_code == 400
    issue = r.get_json()["issue"][0]
    assert issue["code"] == "not-supported" and "'gt'" in issue["details"]["text"]
    r = client.get("/fhir/Observation?code:in=http://nowhere/vs")
    assert r.status_code == 400 and "not known" in r.get_json()["issue"][0]["details"]["text"]


def test_capability_statement_lists_the_search_features(client):
    cap = client.get("/fhir/metadata").get_json()
    patient = next(r for r in cap["rest"][0]["resource"] if r["type"] == "Patient")
    names = {p["name"] for p in patient["searchParam"]}
    assert {"_text", "_content", "_filter"} <= names
    doc = cap["rest"][0]["documentation"]
    for word in (":in", ":not-in", ":below", ":above", ":of-type", ":text", "_has", "_filter"):
        assert word in doc
