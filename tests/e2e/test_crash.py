"""A server killed in the middle of a large transaction leaves nothing behind."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from fhirsvc.server_process import Server

pytestmark = pytest.mark.e2e


def big_transaction(n: int, tag: str) -> dict:
    entries = []
    for i in range(n):
        pid = f"urn:uuid:{uuid.uuid4()}"
        entries.append({"fullUrl": pid, "resource": {
            "resourceType": "Patient", "identifier": [{"system": "urn:crash", "value": tag}],
            "name": [{"family": f"Crash{i}", "given": ["Test"]}], "gender": "female",
            "birthDate": "1960-01-01"}, "request": {"method": "POST", "url": "Patient"}})
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "17861-6"}]},
            "subject": {"reference": pid},
            "valueQuantity": {"value": 9.1, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                              "code": "mg/dL"}}, "request": {"method": "POST", "url": "Observation"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_kill_during_transaction_leaves_nothing(db_url, tmp_path):
    tag = uuid.uuid4().hex
    bundle = big_transaction(2500, tag)  # 5,000 entries
    srv = Server(db_url, tmp_path, workers=1).start()
    # Calibrate: how long does this transaction take here? Validation comes first and the
    # writes last, so a kill at 80% of that time lands while rows are being written.
    t0 = time.perf_counter()
    r = requests.post(srv.base, json=big_transaction(2500, "calibration"), timeout=120,
                      headers={"Content-Type": "application/fhir+json",
                               "Prefer": "return=minimal"})
    assert r.status_code == 200
    duration = time.perf_counter() - t0
    before = requests.get(srv.base + "/_history?_count=0").json()["total"]
    outcome: dict = {}

    def send():
        try:
            r = requests.post(srv.base, json=bundle, timeout=120,
                              headers={"Content-Type": "application/fhir+json"})
            outcome["status"] = r.status_code
        except requests.RequestException as exc:
            outcome["error"] = exc

    t = threading.Thread(target=send)
    t.start()
    time.sleep(duration * 0.8)  # the server is writing the 5,000 entries
    srv.kill()
    t.join()
    assert "status" not in outcome, "the transaction finished before the kill; make it larger"
    srv = Server(db_url, tmp_path, workers=1).start()
    try:
        after = requests.get(srv.base + "/_history?_count=0").json()["total"]
        assert after == before
        # the database still works after the crash
        r = requests.post(srv.base + "/Patient", json={"resourceType": "Patient"},
                          headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 201
    finally:
        srv.stop()
