"""Pushing to the second, real fhirsvc process: a patient's compartment as a transaction with
conditional updates on business identifiers (a second push updates, never duplicates), the
remote's answer on the job; a batch for a remote without transactions."""
from __future__ import annotations

import uuid

import requests

from fhirsvc.jobs import JobQueue, Worker
from tools.fake_remote import FakeRemote, Reply, capability


def run(runtime, job):
    Worker(runtime, only=[job.kind]).run_one(job_id=job.id)
    return JobQueue(runtime.db).get(job.id)


def local_case(client) -> tuple[str, str]:
    mrn = uuid.uuid4().hex
    pat = client.post("/fhir/Patient", json={
        "resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.3.4", "value": mrn}],
        "name": [{"family": "Push", "given": ["Case"]}], "gender": "female"},
        content_type="application/fhir+json").get_json()
    cond = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pat['id']}"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "89155008",
                                 "display": "Systemic sclerosis"}]}}
    assert client.post("/fhir/Condition", json=cond,
                       content_type="application/fhir+json").status_code == 201
    return pat["id"], mrn


def test_push_a_compartment_twice_updates_rather_than_duplicates(runtime, client, remote_fhir):
    ctx = runtime.context()
    runtime.services.remote.add_endpoint(ctx, "push-target", remote_fhir, {})
    pid, mrn = local_case(client)
    job = run(runtime, runtime.services.remote.start_push(ctx, "push-target", patient=pid))
    assert job.state == "succeeded", job.error
    r = job.result
    assert r["kind"] == "transaction" and r["sent"] == 2 and r["failed"] == 0, r
    assert {e["status"][:3] for e in r["entries"]} == {"201"}
    remote_pat = requests.get(f"{remote_fhir}/Patient", params={
        "identifier": f"urn:oid:1.2.3.4|{mrn}"}, timeout=30).json()["entry"]
    assert len(remote_pat) == 1
    rpid = remote_pat[0]["resource"]["id"]
    conds = requests.get(f"{remote_fhir}/Condition", params={"subject": f"Patient/{rpid}"},
                         timeout=30).json()["entry"]
    assert len(conds) == 1  # its reference became the remote patient
    again = run(runtime, runtime.services.remote.start_push(ctx, "push-target", patient=pid))
    assert again.state == "succeeded", again.error
    assert {e["status"][:3] for e in again.result["entries"]} == {"200"}
    assert len(requests.get(f"{remote_fhir}/Patient", params={
        "identifier": f"urn:oid:1.2.3.4|{mrn}"}, timeout=30).json()["entry"]) == 1
    assert len(requests.get(f"{remote_fhir}/Condition", params={"subject": f"Patient/{rpid}"},
                            timeout=30).json()["entry"]) == 1


def test_push_as_a_batch_and_the_remote_outcome_on_the_job(runtime, client):
    fake = FakeRemote().start()
    try:
        fake.route("GET", "/metadata", lambda r: Reply(200, capability(transaction=False)))
        fake.route("POST", "", lambda r: Reply(200, {
            "resourceType": "Bundle", "type": "batch-response", "entry": [
                {"response": {"status": "201 Created"}},
                {"response": {"status": "422 Unprocessable Entity", "outcome": {
                    "resourceType": "OperationOutcome", "issue": [{
                        "severity": "error", "code": "invalid",
                        "diagnostics": "unknown code"}]}}}]}))
        ctx = runtime.context()
        runtime.services.remote.add_endpoint(ctx, "batch-only", fake.base, {})
        pid, mrn = local_case(client)
        job = run(runtime, runtime.services.remote.start_push(ctx, "batch-only", patient=pid))
        assert job.state == "succeeded", job.error
        sent = fake.requests("POST", "")[0].json()
        assert sent["type"] == "batch"
        # no entry references in a batch: the Condition names its patient conditionally
        assert sent["entry"][0]["resource"]["resourceType"] == "Patient"
        assert sent["entry"][1]["resource"]["subject"]["reference"] == \
            f"Patient?identifier=urn%3Aoid%3A1.2.3.4%7C{mrn}"
        assert sent["entry"][0]["request"] == {
            "method": "PUT", "url": f"Patient?identifier=urn%3Aoid%3A1.2.3.4%7C{mrn}"}
        assert job.result["failed"] == 1
        assert job.result["entries"][1]["outcome"]["issue"][0]["diagnostics"] == "unknown code"
    finally:
        fake.stop()


def test_push_a_group_and_a_search_result(runtime, client, remote_fhir):
    ctx = runtime.context()
    runtime.services.remote.add_endpoint(ctx, "push-group", remote_fhir, {})
    (p1, mrn1), (p2, mrn2) = local_case(client), local_case(client)
    gid = uuid.uuid4().hex
    group = client.post("/fhir/Group", json={
        "resourceType": "Group", "type": "person", "actual": True,
        "identifier": [{"system": "urn:example:cohort", "value": gid}],
        "member": [{"entity": {"reference": f"Patient/{p1}"}},
                   {"entity": {"reference": f"Patient/{p2}"}}]},
        content_type="application/fhir+json").get_json()
    job = run(runtime, runtime.services.remote.start_push(ctx, "push-group", group=group["id"]))
    assert job.state == "succeeded", job.error
    assert job.result["sent"] == 5 and job.result["failed"] == 0  # group, 2 x (patient, cond)
    remote_group = requests.get(f"{remote_fhir}/Group", params={
        "identifier": f"urn:example:cohort|{gid}"}, timeout=30).json()["entry"][0]["resource"]
    remote_ids = {requests.get(f"{remote_fhir}/Patient", params={
        "identifier": f"urn:oid:1.2.3.4|{m}"}, timeout=30).json()["entry"][0]["resource"]["id"]
        for m in (mrn1, mrn2)}
    assert {m["entity"]["reference"] for m in remote_group["member"]} == \
        {f"Patient/{i}" for i in remote_ids}
    # a search result; its references to patients outside it become conditional ones
    job = run(runtime, runtime.services.remote.start_push(
        ctx, "push-group", query=f"Condition?subject=Patient/{p1}"))
    assert job.state == "succeeded", job.error
    assert job.result["sent"] == 1 and job.result["entries"][0]["status"].startswith("200")
    # nothing to push is an error on the job, not an empty transaction
    job = run(runtime, runtime.services.remote.start_push(
        ctx, "push-group", query="Condition?_id=nothing-at-all"))
    assert job.state == "failed" and "found nothing" in job.error
