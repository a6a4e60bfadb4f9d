"""End to end against a real server process (gunicorn, several workers), SQLite and PostgreSQL.

- 20 concurrent identical conditional creates end with exactly one resource.
- A third-party client (fhirclient) does create / read / update / history / delete.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    port = free_port()
    env = dict(os.environ, FHIRSVC_DATABASE_URL=db_url, FHIRSVC_PORT=str(port),
               FHIRSVC_HOST="127.0.0.1",
               FHIRSVC_EXAMPLES_DIR=str(tmp_path_factory.mktemp("empty-examples")))
    log = tmp_path_factory.mktemp("log") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fhirsvc", "serve", "--workers", "3",
                                 "--no-examples"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/fhir"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(base + "/metadata", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
        if proc.poll() is not None:
            pytest.fail("server exited: " + log.read_text()[-3000:])
    else:
        proc.kill()
        pytest.fail("server did not start: " + log.read_text()[-3000:])
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_concurrent_conditional_creates_make_one_resource(server):
    ident = f"concurrent-{time.time_ns()}"
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.36.146", "value": ident}],
            "name": [{"family": "Race"}]}
    headers = {"Content-Type": "application/fhir+json",
               "If-None-Exist": f"identifier=urn:oid:1.2.36.146|{ident}"}
    barrier = threading.Barrier(20)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker():
        session = requests.Session()
        barrier.wait()
        resp = session.post(server + "/Patient", json=body, headers=headers, timeout=60)
        with lock:
            results.append((resp.status_code, resp.json().get("id")))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(200) == 19, statuses
    assert len({rid for _, rid in results}) == 1
    hist = requests.get(server + "/Patient/_history?_count=1000").json()
    mine = [e for e in hist.get("entry", [])
            if any(i.get("value") == ident for i in e["resource"].get("identifier", []))]
    assert len(mine) == 1


def test_fhirclient_crud_and_history(server):
    from fhirclient import client
    from fhirclient.models.humanname import HumanName
    from fhirclient.models.patient import Patient

    smart = client.FHIRClient(settings={"app_id": "fhirsvc-e2e", "api_base": server + "/"})
    p = Patient()
    name = HumanName()
    name.family = "Moreau"
    name.given = ["Anne"]
    p.name = [name]
    p.gender = "female"
    p.birthDate = None
    created = p.create(smart.server)
    rid = created["id"]
    fetched = Patient.read(rid, smart.server)
    assert fetched.name[0].family == "Moreau"
    fetched.gender = "other"
    fetched.update(smart.server)
    again = Patient.read(rid, smart.server)
    assert again.gender == "other" and again.meta.versionId == "2"
    hist = requests.get(f"{server}/Patient/{rid}/_history").json()
    assert hist["total"] == 2
    again.delete(smart.server)
    assert requests.get(f"{server}/Patient/{rid}").status_code == 410
