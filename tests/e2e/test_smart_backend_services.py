"""A real SMART Backend Services client against a real server process (FHIRSVC_AUTH=smart):
registered from the command line with the spec's example public keys, it builds its own
JWT assertion, gets a token over HTTP and reads only what its scopes allow."""
from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.security.smart_support import SMART, token_form
from tools.server_process import ROOT, Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def smart_server(db_url, tmp_path_factory):
    work = tmp_path_factory.mktemp("smart-srv")
    for client, keys, scope in (("reader", "ES384", "system/Patient.rs"),
                                ("loader", "RS384", "system/*.cruds")):
        done = subprocess.run(
            [sys.executable, "-m", "fhirsvc", "clients", "add", client, "--jwks",
             str(SMART / f"{keys}.public.json"), "--scope", scope, "--database-url", db_url],
            cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    srv = Server(db_url, work, workers=2, env={
        "FHIRSVC_AUTH": "smart", "FHIRSVC_AUTH_SIGNING_KEY": str(work / "signing.pem"),
        "FHIRSVC_WORKER": "off"}).start()
    try:
        yield srv
    finally:
        srv.stop()


def get_token(srv, client: str, alg: str, scope: str | None = None) -> str:
    conf = requests.get(srv.base + "/.well-known/smart-configuration", timeout=10).json()
    token_url = conf["token_endpoint"]
    resp = requests.post(token_url, data=token_form(client, token_url, scope, alg=alg),
                         timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def test_backend_client_reads_only_what_its_scopes_allow(smart_server):
    base = smart_server.base
    assert requests.get(base + "/Patient", timeout=10).status_code == 401
    loader = {"Authorization": "Bearer " + get_token(smart_server, "loader", "RS384")}
    pid = requests.post(base + "/Patient", json={"resourceType": "Patient", "name": [
        {"family": "Backend"}]}, headers=loader, timeout=30).json()["id"]
    obs = requests.post(base + "/Observation", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": f"Patient/{pid}"}}, headers=loader, timeout=30)
    assert obs.status_code == 201
    reader = {"Authorization": "Bearer " + get_token(smart_server, "reader", "ES384")}
    assert requests.get(f"{base}/Patient/{pid}", headers=reader, timeout=30).status_code == 200
    found = requests.get(f"{base}/Patient?_id={pid}&_revinclude=Observation:subject",
                         headers=reader, timeout=30).json()
    assert [e["resource"]["resourceType"] for e in found["entry"]] == ["Patient"]
    denied = requests.get(f"{base}/Observation/{obs.json()['id']}", headers=reader,
                          timeout=30)
    assert denied.status_code == 403
    assert "system/Observation.r" in denied.text
    assert requests.post(base + "/Patient", json={"resourceType": "Patient"},
                         headers=reader, timeout=30).status_code == 403
    # the same assertion twice is a replay; a token for another server is refused
    conf = requests.get(base + "/.well-known/smart-configuration", timeout=10).json()
    form = token_form("reader", conf["token_endpoint"], alg="ES384")
    assert requests.post(conf["token_endpoint"], data=form, timeout=30).status_code == 200
    again = requests.post(conf["token_endpoint"], data=form, timeout=30)
    assert again.status_code == 400 and again.json()["error"] == "invalid_client"
    tampered = reader["Authorization"][:-4] + "AAAA"
    resp = requests.get(f"{base}/Patient/{pid}", headers={"Authorization": tampered},
                        timeout=30)
    assert resp.status_code == 401 and 'error="invalid_token"' in \
        resp.headers["WWW-Authenticate"]


def test_serve_refuses_auth_off_on_a_public_address(tmp_path):
    """Before binding anything: exit 2 and say what to do."""
    import os
    env = dict(os.environ, FHIRSVC_HOST="0.0.0.0", FHIRSVC_AUTH="off",
               FHIRSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    env.pop("FHIRSVC_AUTH_FORCE_OFF", None)
    done = subprocess.run([sys.executable, "-m", "fhirsvc", "serve", "--no-examples"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "FHIRSVC_AUTH=smart" in done.stderr and "FHIRSVC_AUTH_FORCE_OFF" in done.stderr
