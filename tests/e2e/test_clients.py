"""The named third-party clients' flows (issue 9) against a real `serve` on an ephemeral port,
SQLite and PostgreSQL: fhirpy (Python; its partial update is a plain-JSON PATCH the server
takes as a merge patch, its conditional create a POST with the criteria in the query string)
and fhir-kit-client (node, tests/e2e/js with a package-lock; `make test` installs it). The
fhirclient flow is in test_server.py."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tools.server_process import running_server

pytestmark = pytest.mark.e2e
JS = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    with running_server(db_url, tmp_path_factory.mktemp("srv"), workers=2) as srv:
        yield srv.base


def test_fhirpy_create_search_conditional_create_merge_patch_delete(server):
    from fhirpy import SyncFHIRClient
    from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

    client = SyncFHIRClient(server)
    ident = f"fhirpy-{time.time_ns()}"
    system = "urn:e2e:fhirpy"
    patient = client.resource("Patient", identifier=[{"system": system, "value": ident}],
                              name=[{"family": "Py", "given": ["Fhir"]}], gender="male")
    patient.save()                                        # POST Patient
    pid = patient.id
    assert pid and patient.meta["versionId"] == "1"

    found = client.resources("Patient").search(identifier=f"{system}|{ident}").fetch()
    assert [p.id for p in found] == [pid]
    assert client.resources("Patient").search(identifier=f"{system}|{ident}").count() == 1

    # conditional create, fhirpy's way: POST Patient?identifier=... (the criteria act as
    # If-None-Exist): the existing one comes back, nothing new is made
    dup = client.resource("Patient", identifier=[{"system": system, "value": ident}],
                          name=[{"family": "Duplicate"}])
    dup.create(identifier=f"{system}|{ident}")
    assert dup.id == pid and dup["name"][0]["family"] == "Py"
    got, created = client.resources("Patient").search(identifier=f"{system}|{ident}") \
        .get_or_create(client.resource("Patient", name=[{"family": "Other"}]))
    assert (got.id, created) == (pid, False)
    fresh = f"{ident}-new"
    made, created = client.resources("Patient").search(identifier=f"{system}|{fresh}") \
        .get_or_create(client.resource("Patient", identifier=[{"system": system,
                                                               "value": fresh}]))
    assert created and made.id != pid
    assert client.resources("Patient").search(identifier=f"{system}|{ident}").count() == 1

    # partial update: PATCH with a plain application/json object = JSON Merge Patch
    patient.patch(gender="female", birthDate="1980-05-06")
    again = client.reference("Patient", pid).to_resource()
    assert (again["gender"], again["birthDate"], again["name"][0]["family"]) == \
        ("female", "1980-05-06", "Py")
    assert again.meta["versionId"] == "2"
    # conditional patch through a search set, and a null removes an element (RFC 7386)
    client.resources("Patient").search(identifier=f"{system}|{ident}").patch(birthDate=None)
    again = client.reference("Patient", pid).to_resource()
    assert "birthDate" not in again and again.meta["versionId"] == "3"
    # a merge patch whose result is invalid is refused like any write
    with pytest.raises(OperationOutcome):
        patient.patch(gender="not-a-gender")

    patient.delete()
    with pytest.raises((ResourceNotFound, OperationOutcome)):
        client.reference("Patient", pid).to_resource()
    assert requests.get(f"{server}/Patient/{pid}", timeout=30).status_code == 410
    # conditional delete through a search set
    client.resources("Patient").search(identifier=f"{system}|{fresh}").delete()
    assert client.resources("Patient").search(identifier=f"{system}|{fresh}").count() == 0


def test_fhir_kit_client_flow(server):
    node = shutil.which("node")
    assert node, "node is required for the fhir-kit-client flow (tests/e2e/js)"
    assert (JS / "node_modules" / "fhir-kit-client").is_dir(), \
        "fhir-kit-client is not installed: run `make test` (or npm ci --prefix tests/e2e/js)"
    ident = f"fkc-{time.time_ns()}"
    proc = subprocess.run([node, str(JS / "flow.mjs"), server, ident], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["createdVersion"] == "1" and out["readFamily"] == "Kit"
    assert out["conditionalId"] == out["id"]              # If-None-Exist: the same resource
    assert out["searchTotal"] == 1 and out["searchIds"] == [out["id"]]
    assert (out["updatedVersion"], out["updatedGender"]) == ("2", "other")
    assert (out["patchedFamily"], out["patchedBirthDate"], out["patchedVersion"]) == \
        ("Kitt", "1990-02-03", "3")
    assert out["badPatch"] == 422
    assert [s.split()[0] for s in out["txStatuses"]] == ["201", "201"]
    assert out["txObservationSubject"] == out["txLocations"][0].split("/_history")[0]
    assert [s.split()[0] for s in out["batchStatuses"]] == ["200", "404"]
    assert out["historyTotal"] == 3
    assert out["capabilityKind"] == "instance"
    assert out["afterDelete"] == 410
