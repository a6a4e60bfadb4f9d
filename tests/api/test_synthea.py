"""Real input: the Synthea transaction bundles load as they are (SQLite and PostgreSQL).

Counts are compared with values computed independently from the input files.
"""
from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import pytest

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "synthea"


def synthea_files() -> list[Path]:
    if not SYNTHEA.is_dir():
        pytest.fail(f"Synthea bundles not found at {SYNTHEA} (../shared/conformance/synthea)")
    files = sorted(SYNTHEA.glob("*.json"))
    # Organizations and Practitioners first: patient bundles reference them conditionally
    return sorted(files, key=lambda p: (not p.name.startswith(("hospital", "practitioner")),
                                        p.name))


def test_synthea_bundles_load_as_they_are(client, runtime):
    expected = collections.Counter()
    for path in synthea_files():
        bundle = json.loads(path.read_bytes())
        for entry in bundle["entry"]:
            expected[entry["resource"]["resourceType"]] += 1
        resp = client.post("/fhir", data=path.read_bytes(), content_type="application/fhir+json")
        assert resp.status_code == 200, (path.name, resp.get_json())
        statuses = {e["response"]["status"] for e in resp.get_json()["entry"]}
        assert statuses <= {"201 Created", "200 OK"}, (path.name, statuses)
    for rtype, n in expected.items():
        got = client.get(f"/fhir/{rtype}/_history?_count=0").get_json()["total"]
        assert got == n, rtype
    # every urn:uuid reference (within a bundle, or to the Organizations and Practitioners
    # of the earlier bundles) was rewritten to a stored resource
    with runtime.db.unit_of_work() as uow:
        stored = list(uow.resources.iter_current())
        refs = {m for s in stored for m in re.findall(r'"reference":"([^"#][^"]*)"', s.content)}
        assert refs and not [r for r in refs if r.startswith("urn:")]
        for ref in refs:   # the server's Provenance of each transaction: versioned targets
            rtype, rid, *version = ref.split("/")
            assert uow.resources.exists(rtype, rid), ref
            if version:
                assert version[0] == "_history" and \
                    uow.resources.vread(rtype, rid, int(version[1])) is not None, ref
