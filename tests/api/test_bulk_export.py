"""Bulk Data $export over HTTP on SQLite and PostgreSQL: kick-off (GET and POST), status,
manifest, files, _since with deletions, _type / _typeFilter, Patient and Group level, cancel,
429, expiry, and a worker that dies mid-export."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from fhirsvc.config import Config
from fhirsvc.jobs import Worker
from fhirsvc.storage.jobs import now_micros

ROOT = Path(__file__).resolve().parents[2]
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def config(db_url, tmp_path_factory):
    return Config(database_url=db_url, examples_dir=tmp_path_factory.mktemp("no-examples"),
                  export_dir=tmp_path_factory.mktemp("exports"), bulk_max_active=50,
                  bulk_retry_after=1)


@pytest.fixture(scope="module")
def loaded(app):
    client = app.test_client()
    for name in ("case-a.json", "case-b.json"):
        r = client.post("/fhir", data=(ROOT / "examples" / name).read_bytes(),
                        content_type="application/fhir+json")
        assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return app


def run_jobs(runtime):
    Worker(runtime, poll=0.01).run(once=True)


def kickoff(client, url, **kw):
    r = client.get(url, headers=ASYNC, **kw)
    assert r.status_code == 202, r.get_data(as_text=True)
    return r.headers["Content-Location"]


def finish(client, runtime, status_url):
    path = status_url.split("http://localhost", 1)[-1]
    r = client.get(path)
    assert r.status_code == 202 and r.headers["Retry-After"] == "1" and "X-Progress" in r.headers
    run_jobs(runtime)
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Expires"]
    return r.get_json()


def download(client, url) -> list[dict]:
    r = client.get(url.split("http://localhost", 1)[-1],
                   headers={"Accept": "application/fhir+ndjson"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/fhir+ndjson"
    return [json.loads(line) for line in r.get_data(as_text=True).splitlines()]


def stored_counts(runtime) -> dict:
    with runtime.db.unit_of_work() as uow:
        return {t: uow.resources.count(t) for t in uow.exports.types_present()}


def test_system_export_manifest_and_files(loaded, runtime):
    client = loaded.test_client()
    status = kickoff(client, "/fhir/$export")
    manifest = finish(client, runtime, status)
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["requiresAccessToken"] is False and manifest["error"] == []
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    assert counts == stored_counts(runtime)
    for out in manifest["output"]:
        rows = download(client, out["url"])
        assert len(rows) == out["count"] and {r["resourceType"] for r in rows} == {out["type"]}
    # the lines are the stored text, byte for byte
    pid = next(o for o in manifest["output"] if o["type"] == "Patient")
    first = download(client, pid["url"])[0]
    assert first == client.get(f"/fhir/Patient/{first['id']}").get_json()


def test_kickoff_requires_respond_async_and_checks_parameters(loaded):
    client = loaded.test_client()
    r = client.get("/fhir/$export")
    assert r.status_code == 400 and "respond-async" in r.get_data(as_text=True)
    for query, where in (("_outputFormat=text/csv", "_outputFormat"),
                         ("_since=yesterday", "_since"), ("_type=Nope", "_type"),
                         ("_typeFilter=Observation", "_typeFilter"),
                         ("_typeFilter=Observation?nope=1", "_typeFilter")):
        r = client.get(f"/fhir/$export?{query}", headers=ASYNC)
        assert r.status_code == 400, query
        assert r.get_json()["issue"][0]["expression"] == [where], r.get_json()
    for fmt in ("application/fhir%2Bndjson", "application/ndjson", "ndjson"):
        assert client.get(f"/fhir/$export?_outputFormat={fmt}&_type=Patient",
                          headers=ASYNC).status_code == 202


def test_type_and_type_filter(loaded, runtime):
    client = loaded.test_client()
    status = kickoff(client, "/fhir/$export?_type=Patient,Observation"
                     "&_typeFilter=Observation%3Fcategory%3Dlaboratory")
    manifest = finish(client, runtime, status)
    assert sorted(o["type"] for o in manifest["output"]) == ["Observation", "Patient"]
    obs = download(client, next(o["url"] for o in manifest["output"]
                                if o["type"] == "Observation"))
    assert obs and all(o["category"][0]["coding"][0]["code"] == "laboratory" for o in obs)
    found = client.get("/fhir/Observation?category=laboratory&_count=1&_total=accurate")
    assert len(obs) == found.get_json()["total"]


def test_post_parameters_patient_level_with_patient(loaded, runtime):
    client = loaded.test_client()
    pat = client.get("/fhir/Patient?identifier=A-001").get_json()["entry"][0]["resource"]
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Patient,Condition"},
        {"name": "patient", "valueReference": {"reference": f"Patient/{pat['id']}"}}]}
    r = client.post("/fhir/Patient/$export", json=body, headers=ASYNC)
    assert r.status_code == 202, r.get_data(as_text=True)
    manifest = finish(client, runtime, r.headers["Content-Location"])
    conds = download(client, next(o["url"] for o in manifest["output"]
                                  if o["type"] == "Condition"))
    assert conds and {c["subject"]["reference"] for c in conds} == {f"Patient/{pat['id']}"}
    pats = download(client, next(o["url"] for o in manifest["output"] if o["type"] == "Patient"))
    assert [p["id"] for p in pats] == [pat["id"]]


def test_group_export_members_and_query_group(loaded, runtime):
    client = loaded.test_client()
    a = client.get("/fhir/Patient?identifier=A-001").get_json()["entry"][0]["resource"]["id"]
    g = client.post("/fhir/Group", json={
        "resourceType": "Group", "type": "person", "actual": True,
        "member": [{"entity": {"reference": f"Patient/{a}"}}]}).get_json()
    manifest = finish(client, runtime, kickoff(client, f"/fhir/Group/{g['id']}/$export"))
    types = {o["type"]: o["count"] for o in manifest["output"]}
    assert types["Patient"] == 1 and "ResearchStudy" not in types
    everything = [o for o in download(client, next(o["url"] for o in manifest["output"]
                                                   if o["type"] == "Observation"))]
    assert all(o["subject"]["reference"] == f"Patient/{a}" for o in everything)
    q = client.post("/fhir/Group", json={
        "resourceType": "Group", "type": "person", "actual": False,
        "extension": [{"url": "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/"
                              "group-member-query", "valueString": "Patient?gender=female"}]}
                    ).get_json()
    manifest = finish(client, runtime, kickoff(client, f"/fhir/Group/{q['id']}/$export"
                                                       "?_type=Patient"))
    pats = download(client, manifest["output"][0]["url"])
    assert pats and all(p["gender"] == "female" for p in pats)
    assert client.get("/fhir/Group/nope/$export", headers=ASYNC).status_code == 404


def test_since_transaction_time_and_deleted(loaded, runtime):
    client = loaded.test_client()
    first = finish(client, runtime, kickoff(client, "/fhir/$export?_type=Patient"))
    t = first["transactionTime"]
    new = client.post("/fhir/Patient", json={"resourceType": "Patient", "gender": "male"})
    victim = client.get("/fhir/Patient?identifier=A-001").get_json()["entry"][0]["resource"]
    # kicked off now; the change below comes after its transactionTime
    status = kickoff(client, f"/fhir/$export?_type=Patient&_since={t}")
    assert client.delete(f"/fhir/Patient/{victim['id']}").status_code in (200, 204)
    manifest = finish(client, runtime, status)
    assert [download(client, o["url"])[0]["id"] for o in manifest["output"]] == \
        [new.get_json()["id"]]
    assert "deleted" not in manifest or manifest["deleted"] == []
    # the next export since that transactionTime sees the deletion
    later = finish(client, runtime, kickoff(
        client, f"/fhir/$export?_type=Patient&_since={manifest['transactionTime']}"))
    assert later["output"] == []
    bundle = download(client, later["deleted"][0]["url"])[0]
    assert bundle["type"] == "transaction" and bundle["entry"] == [
        {"request": {"method": "DELETE", "url": f"Patient/{victim['id']}"}}]


def test_cancel_deletes_files_and_status(loaded, runtime, config):
    client = loaded.test_client()
    status = kickoff(client, "/fhir/$export?_type=Observation").split("http://localhost")[1]
    assert client.delete(status).status_code == 202
    assert client.get(status).status_code == 404
    done = finish(client, runtime, kickoff(client, "/fhir/$export?_type=Condition"))
    url = done["output"][0]["url"].split("http://localhost")[1]
    job_id = int(url.split("/")[3].split("-")[0])
    assert (config.export_dir / f"job-{job_id}").exists()
    assert client.delete(url.rsplit("/", 1)[0].replace("$export-file", "$export-poll")
                         ).status_code == 202
    assert not (config.export_dir / f"job-{job_id}").exists()
    assert client.get(url).status_code == 404
    assert client.get("/fhir/$export-poll/999999-nope").status_code == 404


def test_too_many_exports_is_429(loaded, runtime, config):
    client = loaded.test_client()
    svc = runtime.services.export
    small = config.with_(bulk_max_active=1)
    svc.config, saved = small, svc.config
    try:
        first = kickoff(client, "/fhir/$export?_type=Patient")
        r = client.get("/fhir/$export?_type=Patient", headers=ASYNC)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.get_json()["issue"][0]["code"] == "throttled"
    finally:
        svc.config = saved
    finish(client, runtime, first)


def test_files_expire(loaded, runtime, config, monkeypatch):
    client = loaded.test_client()
    manifest = finish(client, runtime, kickoff(client, "/fhir/$export?_type=Patient"))
    job_id = int(manifest["output"][0]["url"].split("/")[-2].split("-")[0])
    monkeypatch.setenv("FHIRSVC_BULK_FILE_TTL", "0")
    worker = Worker(runtime)
    worker.expire_results()
    assert not (config.export_dir / f"job-{job_id}").exists()
    assert client.get(manifest["output"][0]["url"].split("http://localhost")[1]).status_code \
        == 404


def test_resumed_export_writes_each_line_once(loaded, runtime, config):
    """A worker that stops after its first batch: the next attempt cuts the file back to the
    checkpoint and resumes; every resource is in the file exactly once."""
    client = loaded.test_client()
    status = kickoff(client, "/fhir/$export?_type=Observation").split("http://localhost")[1]
    job_id = int(status.rsplit("/", 1)[1].split("-")[0])
    with runtime.db.unit_of_work(write=True) as uow:  # small batches: several checkpoints
        from sqlalchemy import text  # noqa: F401  (test-only: params are JSON in the row)
        job = uow.jobs.get(job_id)
        uow.jobs.conn.execute(text("UPDATE jobs SET params = :p WHERE id = :i"),
                              {"p": orjson.dumps(dict(job.params, batch=7)).decode(),
                               "i": job_id})
        uow.commit()
    from fhirsvc.jobs.context import JobContext
    worker = Worker(runtime)
    calls = {"n": 0}
    real = JobContext.checkpoint

    def crash_after_two(self, *a, **kw):
        real(self, *a, **kw)
        calls["n"] += 1
        if calls["n"] == 3:  # cursor committed; then junk reaches the file, then death
            path = config.export_dir / f"job-{job_id}" / "Observation.ndjson"
            with open(path, "ab") as fh:
                fh.write(b'{"partial": tr')
            raise RuntimeError("worker died")
    JobContext.checkpoint = crash_after_two
    try:
        worker.run_one(job_id)
    finally:
        JobContext.checkpoint = real
    with runtime.db.unit_of_work(write=True) as uow:  # no retry back-off in a test
        uow.jobs.conn.execute(text("UPDATE jobs SET run_after = 0 WHERE id = :i"),
                              {"i": job_id})
        uow.commit()
    job = worker.run_one(job_id)
    assert job.state == "succeeded" and job.attempts == 2
    manifest = client.get(status).get_json()
    rows = download(client, manifest["output"][0]["url"])
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == stored_counts(runtime)["Observation"]


def test_capability_statement_lists_export(loaded):
    cs = loaded.test_client().get("/fhir/metadata").get_json()
    rest = cs["rest"][0]
    assert any(o["name"] == "export" for o in rest["operation"])
    by_type = {r["type"]: r for r in rest["resource"]}
    assert any(o["name"] == "export" for o in by_type["Group"]["operation"])
    assert not any(o["name"] == "export" for o in by_type["Observation"].get("operation", []))


def test_transaction_time_is_not_before_stored_changes(loaded, runtime):
    client = loaded.test_client()
    before = now_micros()
    manifest = finish(client, runtime, kickoff(client, "/fhir/$export?_type=Patient"))
    from datetime import datetime
    tt = datetime.fromisoformat(manifest["transactionTime"].replace("Z", "+00:00"))
    assert int(tt.timestamp() * 1e6) >= before - 1


def test_resource_changed_after_kickoff_is_exported_as_it_was(loaded, runtime):
    client = loaded.test_client()
    made = client.post("/fhir/Patient", json={"resourceType": "Patient", "gender": "female",
                                              "identifier": [{"system": "urn:t",
                                                              "value": "late"}]}).get_json()
    status = kickoff(client, "/fhir/$export?_type=Patient")
    changed = dict(made, gender="male")
    assert client.put(f"/fhir/Patient/{made['id']}", json=changed).status_code == 200
    created_after = client.post("/fhir/Patient", json={"resourceType": "Patient"}).get_json()
    manifest = finish(client, runtime, status)
    rows = {r["id"]: r for r in download(client, manifest["output"][0]["url"])}
    assert rows[made["id"]]["gender"] == "female" and rows[made["id"]]["meta"]["versionId"] == "1"
    assert created_after["id"] not in rows
    later = finish(client, runtime, kickoff(
        client, f"/fhir/$export?_type=Patient&_since={manifest['transactionTime']}"))
    rows = {r["id"]: r for r in download(client, later["output"][0]["url"])}
    assert rows[made["id"]]["gender"] == "male" and created_after["id"] in rows


def test_elements_keep_listed_and_mandatory_elements_tagged_subsetted(loaded, runtime):
    client = loaded.test_client()
    manifest = finish(client, runtime, kickoff(
        client, "/fhir/$export?_type=Patient,Observation&_elements=Patient.gender,id"))
    assert manifest["error"] == []
    files = {o["type"]: download(client, o["url"]) for o in manifest["output"]}
    assert files["Patient"] and files["Observation"]
    assert any("gender" in pat for pat in files["Patient"])
    for pat in files["Patient"]:
        assert set(pat) <= {"resourceType", "id", "meta", "gender"}
        assert "SUBSETTED" in [t["code"] for t in pat["meta"]["tag"]]
    for obs in files["Observation"]:  # only the bare `id` applies: id, meta, status, code
        assert set(obs) == {"resourceType", "id", "meta", "status", "code"}
        assert "SUBSETTED" in [t["code"] for t in obs["meta"]["tag"]]
    whole = client.get(f"/fhir/Observation/{files['Observation'][0]['id']}").get_json()
    assert whole["code"] == files["Observation"][0]["code"] and "subject" in whole
    r = client.get("/fhir/$export?_elements=name.given", headers=ASYNC)
    assert r.status_code == 400 and r.get_json()["issue"][0]["expression"] == ["_elements"]


def _ingest(runtime, *entries):
    from fhirsvc.ingest.pipeline import ProvenanceRecord
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": res, "request": {"method": "PUT",
                                      "url": f"{res['resourceType']}/{res['id']}"}}
        for res in entries]}
    result = runtime.services.resources.ingest(runtime.context(), bundle, ProvenanceRecord(
        door="test", agent="test", activity="includeAssociatedData"))
    return result.provenance.resource_id


def test_include_associated_data_latest_and_relevant_provenance(loaded, runtime):
    client = loaded.test_client()
    pat = {"resourceType": "Patient", "id": "prov-p1", "gender": "female"}
    obs = {"resourceType": "Observation", "id": "prov-o1", "status": "final",
           "code": {"text": "weight"}, "subject": {"reference": "Patient/prov-p1"}}
    first = _ingest(runtime, pat, obs)
    second = _ingest(runtime, dict(pat, gender="male"))   # the Patient's newest Provenance
    other = _ingest(runtime, {"resourceType": "Patient", "id": "prov-p2"})

    def provenance(query):
        manifest = finish(client, runtime, kickoff(
            client, f"/fhir/Patient/$export?patient=Patient/prov-p1&{query}"))
        assert manifest["error"] == [], manifest["error"]
        files = {o["type"]: download(client, o["url"]) for o in manifest["output"]}
        ids = [p["id"] for p in files.get("Provenance", [])]
        assert len(ids) == len(set(ids))  # never twice
        return set(ids), files

    latest, files = provenance("_type=Patient&includeAssociatedData=LatestProvenanceResources")
    assert latest == {second} and set(files) == {"Patient", "Provenance"}
    assert provenance("_type=Patient&includeAssociatedData=RelevantProvenanceResources")[0] \
        == {first, second}
    both = provenance("_type=Patient,Observation&includeAssociatedData=LatestProvenanceResources")
    assert both[0] == {first, second}   # first is still the Observation's newest
    assert other not in provenance("includeAssociatedData=RelevantProvenanceResources")[0]
    assert provenance("_type=Patient")[0] == set()  # not asked: no Provenance
    # a Provenance of a resource outside the export's time window is not associated with it
    status = kickoff(client, "/fhir/Patient/$export?patient=Patient/prov-p1&_type=Patient"
                     "&includeAssociatedData=RelevantProvenanceResources")
    later = _ingest(runtime, dict(pat, gender="other"))
    manifest = finish(client, runtime, status)
    ids = {p["id"] for o in manifest["output"] if o["type"] == "Provenance"
           for p in download(client, o["url"])}
    assert ids == {first, second} and later not in ids


def test_organize_output_by_is_a_clear_400_and_partial_manifests_are_accepted(loaded):
    client = loaded.test_client()
    r = client.get("/fhir/$export?organizeOutputBy=Patient", headers=ASYNC)
    assert r.status_code == 400 and "organizeOutputBy" in r.get_data(as_text=True)
    assert client.get("/fhir/$export?_type=Patient&allowPartialManifests=true",
                      headers=ASYNC).status_code == 202
    strict = dict(ASYNC, Prefer="respond-async, handling=strict")
    r = client.get("/fhir/$export?_type=Patient&_count=3", headers=strict)
    assert r.status_code == 400 and r.get_json()["issue"][0]["expression"] == ["_count"]


def test_type_filter_at_transaction_time_and_late_changes_reported(loaded, runtime):
    client = loaded.test_client()
    steady = client.post("/fhir/Patient", json={"resourceType": "Patient", "gender": "female",
                                                "birthDate": "1911-01-01"}).get_json()
    moving = client.post("/fhir/Patient", json={"resourceType": "Patient", "gender": "female",
                                                "birthDate": "1911-01-01"}).get_json()
    status = kickoff(client, "/fhir/$export?_type=Patient"
                     "&_typeFilter=Patient%3Fbirthdate%3D1911-01-01%26gender%3Dfemale")
    # after transactionTime: no longer matching
    assert client.put(f"/fhir/Patient/{moving['id']}",
                      json=dict(moving, gender="male")).status_code == 200
    manifest = finish(client, runtime, status)
    ids = {p["id"] for o in manifest["output"] for p in download(client, o["url"])}
    assert steady["id"] in ids          # unchanged since: matched on its state then, exactly
    # changed since: its match was on the newer version, and the manifest says so
    notes = [i["details"]["text"] for o in manifest["error"]
             for oo in download(client, o["url"]) for i in oo["issue"]]
    assert len(notes) == 1 and f"Patient/{moving['id']}" in notes[0]
    assert f"Patient/{steady['id']}" not in notes[0]
    # no change after transactionTime: no warning
    quiet = finish(client, runtime, kickoff(
        client, "/fhir/$export?_type=Patient&_typeFilter=Patient%3Fbirthdate%3D1911-01-01"))
    assert quiet["error"] == []
    got = {p["id"] for o in quiet["output"] for p in download(client, o["url"])}
    assert {steady["id"], moving["id"]} <= got


def test_until_exports_the_state_before_it(loaded, runtime):
    client = loaded.test_client()
    made = client.post("/fhir/Patient", json={"resourceType": "Patient", "gender": "female",
                                              "birthDate": "1912-02-02"}).get_json()
    cut = made["meta"]["lastUpdated"]
    changed = client.put(f"/fhir/Patient/{made['id']}", json=dict(made, gender="male"))
    assert changed.status_code == 200
    from datetime import datetime, timedelta
    after = (datetime.fromisoformat(cut.replace("Z", "+00:00")) + timedelta(microseconds=1))
    manifest = finish(client, runtime, kickoff(
        client, "/fhir/$export?_type=Patient&_until=" + after.isoformat().replace("+", "%2B")))
    rows = {r["id"]: r for o in manifest["output"] for r in download(client, o["url"])}
    assert rows[made["id"]]["gender"] == "female" and rows[made["id"]]["meta"]["versionId"] == "1"
    manifest = finish(client, runtime, kickoff(
        client, "/fhir/$export?_type=Patient&_until=" + cut.replace("+", "%2B")))
    assert made["id"] not in {r["id"] for o in manifest["output"]
                              for r in download(client, o["url"])}
    r = client.get("/fhir/$export?_since=2020-01-02T00:00:00Z&_until=2020-01-01T00:00:00Z",
                   headers=ASYNC)
    assert r.status_code == 400 and r.get_json()["issue"][0]["expression"] == ["_until"]
