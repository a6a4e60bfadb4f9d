"""End to end against a real server process (gunicorn, several workers), SQLite and PostgreSQL.

- 20 concurrent identical conditional creates end with exactly one resource.
- A third-party client (fhirclient) does create / read / update / history / delete.
"""
from __future__ import annotations

import threading
import time

import pytest
import requests

from tools.server_process import Server, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server_process(db_url, tmp_path_factory):
    with running_server(db_url, tmp_path_factory.mktemp("srv")) as srv:
        yield srv


@pytest.fixture(scope="module")
def server(server_process):
    return server_process.base


def test_no_control_socket_unless_configured(server_process, db_url, tmp_path):
    # gunicorn's default control socket is one path per user: two servers on a host would
    # share it, so serve opens none unless FHIRSVC_CONTROL_SOCKET names one.
    assert "Control socket listening" not in server_process.log.read_text()
    path = tmp_path / "ctl.sock"
    srv = Server(db_url, tmp_path, workers=1, env={"FHIRSVC_CONTROL_SOCKET": str(path)}).start()
    try:
        # the arbiter opens it beside the workers, so the first answer can come before it
        deadline = time.monotonic() + 15
        while not path.is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.is_socket()
    finally:
        srv.stop()



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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_serve_loads_the_examples_as_make_run_does(backend, tmp_path, request):
    """`make run` is `serve` with the examples loaded into an empty database: the load step
    must run inside serve (a CLI option added to `load` once broke it there while every other
    test passed)."""
    import shutil

    from tools.server_process import ROOT, Server
    pg = request.getfixturevalue("pg_databases") if backend == "postgresql" else None
    # an empty, unmigrated database: serve migrates it itself
    url = pg.create() if pg is not None else f"sqlite:///{tmp_path / 'fhirsvc.db'}"
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(ROOT / "examples" / "case-b.json", examples)
    srv = Server(url, tmp_path, workers=1, examples_dir=examples).start()
    try:
        count = requests.get(srv.base + "/Patient?_summary=count", timeout=30).json()["total"]
        assert count >= 1
        again = requests.get(srv.base + "/Condition?_summary=count", timeout=30).json()["total"]
        assert again >= 1
    finally:
        srv.stop()
        if pg is not None:
            pg.drop(url)
