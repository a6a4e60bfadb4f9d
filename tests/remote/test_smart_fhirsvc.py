"""The SMART Backend Services client against a second fhirsvc with its own authorization
server (issue 13: FHIRSVC_AUTH=smart, `fhirsvc clients add`): discovery, the client
assertion, the token, a pull with it; and a pull without a token is refused."""
from __future__ import annotations

import json

import pytest

from fhirsvc import cli
from fhirsvc.jobs import JobQueue, Worker
from tools.server_process import Server

from .test_smart import keypair


@pytest.fixture(scope="module")
def smart_fhirsvc(tmp_path_factory):
    work = tmp_path_factory.mktemp("smart-fhirsvc")
    url = f"sqlite:///{work / 'smart.db'}"
    private, public, _ = keypair("ES384")
    (work / "client.jwks").write_text(json.dumps({"keys": [public]}))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "gender": g},
         "request": {"method": "POST", "url": "Patient"}} for g in ("female", "male")]}
    (work / "patients.json").write_text(json.dumps(bundle))
    assert cli.main(["load", "--database-url", url, str(work / "patients.json")]) == 0
    assert cli.main(["clients", "add", "puller", "--database-url", url, "--jwks",
                     str(work / "client.jwks"), "--scope", "system/Patient.rs"]) == 0
    srv = Server(url, work, workers=1, env={
        "FHIRSVC_WORKER": "off", "FHIRSVC_AUTH": "smart",
        "FHIRSVC_AUTH_SIGNING_KEY": str(work / "signing.pem")}).start()
    try:
        yield srv.base, private
    finally:
        srv.stop()


def run(runtime, job):
    Worker(runtime, only=[job.kind]).run_one(job_id=job.id)
    return JobQueue(runtime.db).get(job.id)


def test_pull_from_a_fhirsvc_that_requires_smart_tokens(runtime, smart_fhirsvc):
    base, private = smart_fhirsvc
    ctx = runtime.context()
    remote = runtime.services.remote
    remote.add_endpoint(ctx, "smart-fhirsvc", base, {"types": ["Patient"], "auth": {
        "type": "smart", "client_id": "puller", "jwk": private, "scope": "system/Patient.rs"}})
    job = run(runtime, remote.start_pull(ctx, "smart-fhirsvc"))
    assert job.state == "succeeded", job.error
    assert job.result["stored"] == 2 and job.result["failed"] == 0, job.result
    # the same server without a token: every search is a 401, reported on the job
    remote.add_endpoint(ctx, "no-token", base, {"types": ["Patient"]})
    job = run(runtime, remote.start_pull(ctx, "no-token"))
    assert job.result["stored"] == 0 and "401" in job.result["problems"][0]["message"]


def test_starting_a_pull_or_push_with_a_token_needs_the_administrator_scope(runtime,
                                                                           smart_fhirsvc):
    from fhirsvc.outcomes import OperationOutcomeError
    remote = runtime.services.remote
    remote.add_endpoint(runtime.context(), "admin-only", smart_fhirsvc[0], {})
    reader = runtime.context().with_(enforce=True, scopes=frozenset({"system/Patient.rs"}))
    for start in (lambda c: remote.start_pull(c, "admin-only"),
                  lambda c: remote.start_push(c, "admin-only", patient="x")):
        with pytest.raises(OperationOutcomeError) as info:
            start(reader)
        assert info.value.status == 403 and "fhirsvc/admin" in str(info.value)
    admin = reader.with_(scopes=frozenset({"fhirsvc/admin"}))
    job = remote.start_pull(admin, "admin-only")
    assert job.state == "queued"
    JobQueue(runtime.db).cancel(job.id)
