"""Concurrent plain PUTs of one resource without If-Match against a real server (gunicorn,
several workers): last writer wins, every request succeeds, no spurious 409. Both databases,
for an existing resource and for a PUT that creates it."""
from __future__ import annotations

import threading

import pytest
import requests

from tools.server_process import running_server

pytestmark = pytest.mark.e2e
N = 16


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    with running_server(db_url, tmp_path_factory.mktemp("srv")) as srv:
        yield srv.base


def _race(server, rid: str) -> list[int]:
    barrier = threading.Barrier(N)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(i):
        body = {"resourceType": "Patient", "id": rid, "name": [{"family": f"Writer{i}"}]}
        session = requests.Session()
        barrier.wait()
        resp = session.put(f"{server}/Patient/{rid}", json=body, timeout=60,
                           headers={"Content-Type": "application/fhir+json"})
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "created-by-put"])
def test_concurrent_puts_serialise_last_writer_wins(server, existing):
    rid = f"race-{'old' if existing else 'new'}"
    if existing:
        assert requests.put(f"{server}/Patient/{rid}", json={
            "resourceType": "Patient", "id": rid}, timeout=30).status_code in (200, 201)
    statuses = _race(server, rid)
    assert 409 not in statuses, statuses
    assert sorted(set(statuses)) <= [200, 201]
    assert statuses.count(201) == (0 if existing else 1), statuses
    history = requests.get(f"{server}/Patient/{rid}/_history?_count=100", timeout=30).json()
    assert history["total"] == N + (1 if existing else 0)
    current = requests.get(f"{server}/Patient/{rid}", timeout=30).json()
    assert current["meta"]["versionId"] == str(history["total"])
