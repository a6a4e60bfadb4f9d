"""A write's index rows in few round trips (issue 16), both databases: on PostgreSQL the rows of
every index table and the full-text row of a small write are ONE statement of data-modifying
CTEs (storage/dialect.insert_together), and a first version asks nothing about older rows; on
both, every row lands where its search finds it, and an update replaces them."""
from __future__ import annotations

import json

from tests.integration.test_request_overhead import FHIR, Statements


def _obs(value: int, code: str) -> str:
    return json.dumps({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}],
                 "text": f"roundtrip{code.replace('-', '')}"},
        "subject": {"reference": "Patient/rt-1"}, "effectiveDateTime": "2019-03-04",
        "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                          "code": "mg/dL"}})


def _ids(client, query: str) -> list[str]:
    r = client.get(f"/fhir/Observation?{query}")
    assert r.status_code == 200, r.get_data()[:300]
    return [e["resource"]["id"] for e in r.get_json().get("entry", [])]


def test_create_writes_its_index_rows_in_one_statement(client, runtime):
    client.get("/fhir/Observation?code=x")     # warm
    with Statements(runtime.db.engine) as seen:
        r = client.post("/fhir/Observation", data=_obs(171, "2339-0"), content_type=FHIR)
        assert r.status_code == 201, r.get_data()[:300]
    oid = r.get_json()["id"]
    index = [s for s in seen.sql if "idx_" in s or "resource_text" in s]
    if runtime.db.dialect == "postgresql":
        assert len(index) == 1 and index[0].startswith("WITH w0 AS (INSERT"), index
        # a first version had no index rows before: no query for older versions
        assert not any("resources.version >" in s for s in seen.sql), seen.sql
    else:
        assert all(s.startswith("INSERT") for s in index), index
    # token, date, quantity, reference and full text rows all written
    for query in ("code=http://loinc.org|2339-0", "date=2019-03-04", "value-quantity=171",
                  "subject=Patient/rt-1", "_content=roundtrip23390"):
        assert oid in _ids(client, query), query


def test_update_replaces_the_index_rows(client):
    r = client.post("/fhir/Observation", data=_obs(150, "2345-7"), content_type=FHIR)
    oid = r.get_json()["id"]
    body = json.loads(_obs(152, "2951-2"))
    body["id"] = oid
    assert client.put(f"/fhir/Observation/{oid}", data=json.dumps(body),
                      content_type=FHIR).status_code == 200
    assert oid not in _ids(client, "code=http://loinc.org|2345-7")
    assert oid not in _ids(client, "value-quantity=150")
    assert oid in _ids(client, "code=http://loinc.org|2951-2")
    assert oid in _ids(client, "value-quantity=152")
    assert oid in _ids(client, "_content=roundtrip29512")
    assert oid not in _ids(client, "_content=roundtrip23457")
