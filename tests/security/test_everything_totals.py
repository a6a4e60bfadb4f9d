"""Patient/$everything for scoped callers (issue 13 follow-up), SQLite and PostgreSQL:
Bundle.total and the paging links count what the caller receives, not what the compartment and
its references hold (other patients' data reached through shared records, types outside the
scopes); with _type, _since and _count too. And an _include:iterate goes on only from what the
caller may see."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

Q1_OWN = {"Patient/q1", "Observation/qo1", "Observation/qo2", "Observation/qo3",
          "Observation/qo4", "Observation/qo5", "Condition/qc1", "Condition/qc2"}


def obs(oid, pid, **more):
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"text": "x"}, "subject": {"reference": f"Patient/{pid}"}, **more}


@pytest.fixture(scope="module")
def seeded(smart_runtime):
    rt = smart_runtime
    ctx = rt.context()
    first = [
        {"resourceType": "Organization", "id": "qorg", "name": "Clinic"},
        {"resourceType": "Practitioner", "id": "qpr", "name": [{"family": "Doc"}]},
        {"resourceType": "Patient", "id": "q1", "managingOrganization": {
            "reference": "Organization/qorg"},
         "generalPractitioner": [{"reference": "Practitioner/qpr"}]},
        {"resourceType": "Patient", "id": "q2"},
        obs("qo1", "q1", performer=[{"reference": "Practitioner/qpr"}]),
        obs("qo2", "q1"), obs("qo3", "q1"),
        obs("qx1", "q2"), obs("qx2", "q2"),
        {"resourceType": "Condition", "id": "qc1", "subject": {"reference": "Patient/q1"},
         "code": {"text": "SSc"},
         "evidence": [{"detail": [{"reference": "Observation/qo3"}]}]},
        # a record naming both patients: in q1's compartment (its target), not q1's alone
        {"resourceType": "Provenance", "id": "qprov", "recorded": "2024-01-01T00:00:00Z",
         "target": [{"reference": "Patient/q1"}, {"reference": "Observation/qx1"}],
         "agent": [{"who": {"reference": "Practitioner/qpr"}}]},
    ]
    for res in first:
        rt.services.resources.update(ctx, res["resourceType"], res["id"], res)
    time.sleep(0.05)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time())) + \
        f".{int(time.time() * 1000) % 1000:03d}Z"
    time.sleep(0.05)
    for res in [obs("qo4", "q1"), obs("qo5", "q1"),
                {"resourceType": "Condition", "id": "qc2", "subject": {
                    "reference": "Patient/q1"}, "code": {"text": "calcinosis"}}]:
        rt.services.resources.update(ctx, res["resourceType"], res["id"], res)
    return since


def walk(call, path, scope, patient=None):
    """Every page of a searchset from `path` on, following `next`: (totals, entries by page)."""
    totals, pages = [], []
    while path:
        resp = call("GET", path, scope, patient)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:400]
        b = resp.get_json()
        totals.append(b.get("total"))
        pages.append([f"{e['resource']['resourceType']}/{e['resource']['id']}"
                      for e in b.get("entry", [])])
        nxt = next((link["url"] for link in b["link"] if link["relation"] == "next"), None)
        path = None
        if nxt:
            parts = urlsplit(nxt)
            path = parts.path.split("/fhir", 1)[1] + "?" + parts.query
    return totals, pages


def received(call, path, scope, patient=None, count=3):
    sep = "&" if "?" in path else "?"
    totals, pages = walk(call, f"{path}{sep}_count={count}", scope, patient)
    got = [x for p in pages for x in p]
    assert len(got) == len(set(got)), got
    # the total is what arrives over all pages, on every page; pages are full but the last
    assert set(totals) == {len(got)}, (totals, pages)
    assert all(len(p) == count for p in pages[:-1]), pages
    return set(got)


def test_a_patient_scope_gets_totals_and_links_of_what_it_receives(call, seeded):
    got = received(call, "/Patient/q1/$everything", "patient/*.rs", "q1")
    # no practitioner or organization (outside the compartment: patient/ scopes do not grant
    # them), no mixed Provenance (it names q2's Observation), nothing of q2
    assert got == Q1_OWN
    # the whole record for a system scope: the references and the Provenance too
    every = received(call, "/Patient/q1/$everything", "system/*.rs")
    assert Q1_OWN | {"Practitioner/qpr", "Organization/qorg", "Provenance/qprov"} <= every
    assert not any(x.startswith("Observation/qx") or x == "Patient/q2" for x in every)


def test_types_outside_the_scopes_are_not_counted(call, seeded):
    got = received(call, "/Patient/q1/$everything", "patient/Patient.rs patient/Observation.rs",
                   "q1", count=2)
    assert got == {x for x in Q1_OWN if not x.startswith("Condition/")}


def test_type_since_and_count_with_a_patient_scope(call, seeded):
    scope = "patient/Patient.rs patient/Observation.rs"
    got = received(call, "/Patient/q1/$everything?_type=Observation,Condition,Practitioner",
                   scope, "q1", count=2)
    assert got == {f"Observation/qo{i}" for i in range(1, 6)}
    got = received(call, f"/Patient/q1/$everything?_since={seeded}", "patient/*.rs", "q1",
                   count=1)
    assert got == {"Observation/qo4", "Observation/qo5", "Condition/qc2"}
    # _count=0 is the count alone
    b = call("GET", "/Patient/q1/$everything?_count=0", "patient/*.rs", "q1").get_json()
    assert b["total"] == len(Q1_OWN) and not b.get("entry")
    assert [link["relation"] for link in b["link"]] == ["self"]   # no next page to itself


def test_an_include_iterates_only_from_what_the_caller_may_see(call, seeded):
    """qc1 (a Condition) refers to qo3: a token without Condition must not get qo3 through it
    (it would learn that the record it may not see names that Observation)."""
    path = ("/Patient?_id=q1&_revinclude=Condition:subject"
            "&_include:iterate=Condition:evidence-detail")
    both = call("GET", path, "patient/Patient.rs patient/Condition.rs patient/Observation.rs",
                "q1").get_json()
    ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in both["entry"]}
    assert {"Condition/qc1", "Observation/qo3"} <= ids
    resp = call("GET", path, "patient/Patient.rs patient/Observation.rs", "q1")
    if resp.status_code == 200:
        ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
               for e in resp.get_json()["entry"]}
        assert ids == {"Patient/q1"}
    else:                                     # or refused outright, never answered with qo3
        assert resp.status_code == 403
