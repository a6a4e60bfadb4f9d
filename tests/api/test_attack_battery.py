"""The issue-9 attack battery's reproducers as filed, with the server's default limits (the
other tests configure small limits), on both databases. Each answers a clear OperationOutcome
quickly, never a 500, a hang or a silent duplicate. Where a reproducer needs a real server
process it is in tests/e2e (see the module list in the test names of bench/RESULTS.md)."""
from __future__ import annotations

import json

FHIR = "application/fhir+json"


def _outcome(resp, *statuses):
    assert resp.status_code in statuses, (resp.status_code, resp.get_data(as_text=True)[:400])
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_two_hundred_name_parameters_are_a_400(client):
    query = "&".join(f"name=x{i}" for i in range(200))
    issue = _outcome(client.get(f"/fhir/Patient?{query}"), 400)
    assert "200 parameters" in issue["details"]["text"]


def test_post_search_with_two_thousand_parameters_is_a_400(client):
    form = "&".join(f"name=x{i}" for i in range(2000))
    issue = _outcome(client.post("/fhir/Patient/_search", data=form,
                                 content_type="application/x-www-form-urlencoded"), 400)
    assert "2000 parameters" in issue["details"]["text"]


def test_too_many_values_for_sql_parameters_are_a_400(client):
    ids = ",".join(f"id{i}" for i in range(40_000))
    _outcome(client.post("/fhir/Patient/_search", data=f"_id={ids}",
                         content_type="application/x-www-form-urlencoded"), 400)


def test_forty_batch_searches_with_iterate_star_are_bounded(client):
    for i in range(3):
        client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient",
                                                      "name": [{"family": f"Att{i}"}]}),
                    content_type=FHIR)
    search = {"request": {"method": "GET",
                          "url": "Patient?_include:iterate=*&_revinclude:iterate=*&_count=1000"}}
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [search] * 40}
    resp = client.post("/fhir", data=json.dumps(batch), content_type=FHIR)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:400]
    statuses = [e["response"]["status"][:3] for e in resp.get_json()["entry"]]
    assert set(statuses) <= {"200", "400", "413"} and len(statuses) == 40
    # _count over the cap is clamped, never a page of unbounded size
    page = client.get("/fhir/Patient?_count=1000000").get_json()
    assert page["resourceType"] == "Bundle"


def test_huge_numbers_are_400_not_500(client):
    for url in ("/fhir/Patient?_offset=99999999999999999999999",
                "/fhir/Patient/x/_history/99999999999999999999999",
                "/fhir/Observation?value-quantity=1e99999999999",
                "/fhir/Patient?birthdate=99999999-01-01"):
        _outcome(client.get(url), 400)


def test_nul_in_a_string_is_a_422_on_both_databases(client):
    resp = client.post("/fhir/Patient", data='{"resourceType":"Patient","name":[{"family":'
                       '"a\\u0000b"}]}', content_type=FHIR)
    issue = _outcome(resp, 422, 400)
    assert issue.get("expression")


def test_core_value_set_url_cannot_be_reused(client):
    vs = {"resourceType": "ValueSet", "status": "active",
          "url": "http://hl7.org/fhir/ValueSet/administrative-gender", "version": "4.0.1",
          "compose": {"include": [{"system": "http://example.org/x", "concept": [
              {"code": "x"}]}]}}
    issue = _outcome(client.post("/fhir/ValueSet", data=json.dumps(vs), content_type=FHIR),
                     422)
    assert "administrative-gender" in issue["details"]["text"]
    resp = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient",
                                                         "gender": "male"}), content_type=FHIR)
    assert resp.status_code == 201, resp.get_data(as_text=True)[:400]


def test_post_with_criteria_and_duplicate_if_none_exist_make_one_resource(client):
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:ex:att", "value": "1"}]}
    first = client.post("/fhir/Patient?identifier=urn:ex:att|1", data=json.dumps(body),
                        content_type=FHIR)
    again = client.post("/fhir/Patient?identifier=urn:ex:att|1", data=json.dumps(body),
                        content_type=FHIR)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    entry = {"resource": dict(body, identifier=[{"system": "urn:ex:att", "value": "2"}]),
             "request": {"method": "POST", "url": "Patient",
                         "ifNoneExist": "identifier=urn:ex:att|2"}}
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}
    resp = client.post("/fhir", data=json.dumps(tx), content_type=FHIR)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:400]
    found = client.get("/fhir/Patient?identifier=urn:ex:att|2").get_json()
    assert found["total"] == 1
