"""The CapabilityStatement lists each operation once, on the types it is routed for, and is
served gzip-compressed when the client asks."""
from __future__ import annotations

import gzip
import json


def _statement(client):
    return client.get("/fhir/metadata").get_json()


def test_each_operation_once_on_its_own_types(client):
    rest = _statement(client)["rest"][0]
    by_type = {r["type"]: [o["name"] for o in r.get("operation", [])] for r in rest["resource"]}
    for rtype, names in by_type.items():
        assert len(names) == len(set(names)), (rtype, names)
    assert {"everything", "ssc-classification", "validate"} <= set(by_type["Patient"])
    assert "lastn" in by_type["Observation"]
    assert "lastn" not in by_type["Condition"] and "everything" not in by_type["Condition"]
    assert "ssc-classification" not in by_type["Observation"]
    assert by_type["Condition"] == ["validate"]
    system = [o["name"] for o in rest["operation"]]
    assert len(system) == len(set(system)) and "cohort-statistics" in system


def test_compressed_when_asked(client):
    plain = client.get("/fhir/metadata")
    assert "Content-Encoding" not in plain.headers
    zipped = client.get("/fhir/metadata", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert len(zipped.data) * 5 < len(plain.data)
    body = json.loads(gzip.decompress(zipped.data))
    assert body["resourceType"] == "CapabilityStatement"
    # errors and small answers stay plain
    small = client.get("/fhir/Patient/nope", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 404 and "Content-Encoding" not in small.headers
