"""Pulling from a second, real fhirsvc process (tests/remote/conftest.py) into the test's
runtime (SQLite and PostgreSQL) as jobs: search paging, Patient/$everything, the cursor, the
Provenance, references rewritten, idempotence."""
from __future__ import annotations

import re

import time

import pytest
import requests

from fhirsvc.jobs import JobQueue, Worker
from fhirsvc.remote import local_id, remote_url

from .conftest import remote_counts

TYPES = ["Organization", "Practitioner", "Patient", "Encounter", "Condition", "Observation",
         "Procedure", "Immunization", "DiagnosticReport", "MedicationRequest", "CarePlan",
         "Goal", "Claim", "ExplanationOfBenefit"]


def run(runtime, job):
    done = Worker(runtime, only=[job.kind]).run_one(job_id=job.id)
    assert done is not None, "the job was not claimed"
    return JobQueue(runtime.db).get(job.id)


def versions(runtime) -> int:
    with runtime.db.unit_of_work() as uow:
        total, _ = uow.resources.history(count=0)
    return total


@pytest.fixture(scope="module")
def endpoint(runtime, remote_fhir):
    ctx = runtime.context()
    runtime.services.remote.add_endpoint(ctx, "synthea", remote_fhir,
                                         {"types": TYPES, "page_size": 50})
    return "synthea"


def test_a_pull_through_search_paging_stores_every_remote_resource(runtime, remote_fhir,
                                                                   endpoint):
    ctx = runtime.context()
    expected = remote_counts(remote_fhir, TYPES)
    job = run(runtime, runtime.services.remote.start_pull(ctx, endpoint))
    assert job.state == "succeeded", job.error
    r = job.result
    assert r["failed"] == 0, r["problems"][:3]
    assert r["stored"] == sum(expected.values()) == r["seen"]
    assert r["pages"] > len(TYPES)  # paging was followed (50 a page)
    with runtime.db.unit_of_work() as uow:
        for rtype, n in expected.items():
            assert uow.resources.count(rtype) == n, rtype
        stored = list(uow.resources.iter_current())
        # identity by the remote's full URL, kept readable in meta.source
        pats = [s.resource() for s in stored if s.resource_type == "Patient"]
        for p in pats:
            assert p["id"] == local_id(p["meta"]["source"])
            assert p["meta"]["source"].startswith(remote_fhir + "/Patient/")
        # every reference points to a stored local resource
        refs = {m for s in stored if s.resource_type != "Provenance"
                for m in re.findall(r'"reference":"([^"#][^"]*)"', s.content)}
        assert refs
        for ref in refs:
            rtype, rid = ref.split("/")
            assert uow.resources.exists(rtype, rid), ref
        provs = [s.resource() for s in stored if s.resource_type == "Provenance"]
    assert len(provs) == r["transactions"]
    assert all(p["meta"]["tag"][0]["code"] == "remote-pull" for p in provs)
    assert all(endpoint in p["agent"][0]["who"]["display"] for p in provs)
    assert sum(len(p["target"]) for p in provs) == r["stored"]


def test_pulling_again_stores_nothing_new_and_asks_only_for_changes(runtime, remote_fhir,
                                                                    endpoint):
    ctx = runtime.context()
    before = versions(runtime)
    cursor = runtime.services.remote.cursors(ctx, endpoint)["types"]
    # The cursor is the remote's Date header (whole seconds) minus a second of safety: let the
    # remote's clock move past its load, or a fast machine sees the load again as "changed".
    time.sleep(2.1)
    job = run(runtime, runtime.services.remote.start_pull(ctx, endpoint))
    assert job.state == "succeeded", job.error
    assert job.result["stored"] == 0 and job.result["since"] == cursor
    assert versions(runtime) == before
    # a remote change: the next pull fetches it alone (its cursor) and updates one resource
    pats = requests.get(remote_fhir + "/Patient", timeout=30).json()["entry"]
    patient = pats[0]["resource"]
    patient["gender"] = "other" if patient.get("gender") != "other" else "unknown"
    assert requests.put(f"{remote_fhir}/Patient/{patient['id']}", json=patient,
                        timeout=30).status_code == 200
    job = run(runtime, runtime.services.remote.start_pull(ctx, endpoint))
    assert job.state == "succeeded", job.error
    assert job.result["stored"] == 1 and job.result["seen"] <= 2, job.result
    with runtime.db.unit_of_work() as uow:
        local = uow.resources.read("Patient", local_id(remote_url(remote_fhir, "Patient",
                                                                  patient["id"])))
    assert local.version == 2 and local.resource()["gender"] == patient["gender"]


def test_patient_everything_pull(runtime, remote_fhir, endpoint):
    ctx = runtime.context()
    pid = requests.get(remote_fhir + "/Patient", timeout=30).json()["entry"][1]["resource"]["id"]
    everything = requests.get(f"{remote_fhir}/Patient/{pid}/$everything",
                              params={"_count": 1000}, timeout=30).json()
    job = run(runtime, runtime.services.remote.start_pull(ctx, endpoint, mode="patient",
                                                          patient=pid))
    assert job.state == "succeeded", job.error
    assert job.result["seen"] == len(everything["entry"])
    # all pulled already by the search pull, but the remote's Provenance of the Patient
    # (a fhirsvc writes one per REST transaction; R4 puts the one naming the Patient in its
    # compartment), which the search pull does not ask for: new, and stored
    provs = [e for e in everything["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert provs and all(any(t["reference"].startswith(f"Patient/{pid}/") for t in
                             e["resource"]["target"]) for e in provs)
    assert job.result["stored"] == len(provs)
    assert job.result["unchanged"] == len(everything["entry"]) - len(provs)


def test_the_pull_operation_starts_a_job(client, runtime, endpoint):
    resp = client.post("/fhir/$remote-pull", json={"resourceType": "Parameters", "parameter": [
        {"name": "endpoint", "valueString": endpoint},
        {"name": "search", "valueString": "Goal?_id=nothing-like-this"}]},
        content_type="application/fhir+json")
    assert resp.status_code == 202, resp.get_json()
    status = resp.headers["Content-Location"]
    job_id = int(status.rsplit("/", 1)[1])
    assert client.get(status).status_code == 202
    run(runtime, JobQueue(runtime.db).get(job_id))
    done = client.get(status)
    assert done.status_code == 200
    assert done.get_json()["parameter"][0]["valueCode"] == "succeeded"
    bad = client.post("/fhir/$remote-pull", json={"resourceType": "Parameters", "parameter": [
        {"name": "endpoint", "valueString": "no-such"}]}, content_type="application/fhir+json")
    assert bad.status_code == 404
    bad = client.post("/fhir/$remote-pull", json={"resourceType": "Parameters", "parameter": [
        {"name": "endpoint", "valueString": endpoint},
        {"name": "search", "valueString": "Nonsense?x=1"}]},
        content_type="application/fhir+json")
    assert bad.status_code == 400 and "Type?query" in str(bad.get_json())
