"""A real, independent Bulk Data client (smart-fetch, from PyPI) against a real `fhirsvc serve`
process (gunicorn + job worker) on SQLite and PostgreSQL: kick-off, polling, manifest and
downloads, compared with what the server stores."""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tools.server_process import ROOT, Server

pytestmark = pytest.mark.e2e

SMART_FETCH = shutil.which("smart-fetch") or str(Path(sys.executable).parent / "smart-fetch")


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    work = tmp_path_factory.mktemp("bulk-e2e")
    srv = Server(db_url, work, workers=2, env={
        "FHIRSVC_EXPORT_DIR": str(work / "exports"), "FHIRSVC_BULK_RETRY_AFTER": "1",
        "FHIRSVC_JOB_POLL": "0.1"}).start()
    try:
        for name in ("case-a.json", "case-b.json"):
            r = requests.post(srv.base, data=(ROOT / "examples" / name).read_bytes(),
                              headers={"Content-Type": "application/fhir+json"}, timeout=60)
            assert r.status_code == 200, r.text[:500]
        yield srv
    finally:
        srv.stop()


def read_folder(folder: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.ndjson.gz")):
        rtype = path.name.split(".")[0]
        with gzip.open(path, "rt") as fh:
            out.setdefault(rtype, []).extend(json.loads(line) for line in fh if line.strip())
    return out


def test_smart_fetch_bulk_export(server, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([SMART_FETCH, "bulk", "--fhir-url", server.base,
                           "--type", "Patient,Condition,Observation,Procedure", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    got = read_folder(out)
    assert sorted(got) == ["Condition", "Observation", "Patient", "Procedure"]
    for rtype, rows in got.items():
        bundle = requests.get(f"{server.base}/{rtype}", params={"_count": 1000},
                              timeout=30).json()
        stored = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
        assert {r["id"]: r for r in rows} == stored, rtype


def test_smart_fetch_group_export(server, tmp_path):
    pat = requests.get(f"{server.base}/Patient", params={"identifier": "A-001"},
                       timeout=30).json()["entry"][0]["resource"]["id"]
    group = requests.post(f"{server.base}/Group", json={
        "resourceType": "Group", "type": "person", "actual": True,
        "member": [{"entity": {"reference": f"Patient/{pat}"}}]}, timeout=30).json()
    out = tmp_path / "group"
    proc = subprocess.run([SMART_FETCH, "bulk", "--fhir-url", server.base, "--group",
                           group["id"], "--type", "Patient,Condition", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    got = read_folder(out)
    assert [p["id"] for p in got["Patient"]] == [pat]
    assert got["Condition"] and all(c["subject"]["reference"] == f"Patient/{pat}"
                                    for c in got["Condition"])
