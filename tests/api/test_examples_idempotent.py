"""Posting an example Bundle again creates nothing new: every entry is a conditional create on
a business identifier (its URN for the resources that have no other). Both databases."""
from __future__ import annotations

from pathlib import Path

import pytest

FHIR = "application/fhir+json"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _total(client) -> int:
    return client.get("/fhir/_history?_count=1").get_json()["total"]


@pytest.mark.parametrize("name", ["case-a.json", "case-b.json"])
def test_reposting_an_example_creates_no_duplicates(client, name):
    body = (EXAMPLES / name).read_bytes()
    first = client.post("/fhir", data=body, content_type=FHIR)
    assert first.status_code == 200, first.get_data(as_text=True)[:500]
    created = [e["response"]["status"][:3] for e in first.get_json()["entry"]]
    versions = _total(client)
    again = client.post("/fhir", data=body, content_type=FHIR)
    assert again.status_code == 200
    statuses = [e["response"]["status"][:3] for e in again.get_json()["entry"]]
    assert set(statuses) == {"200"} and len(statuses) == len(created)
    assert _total(client) == versions  # not one new version
    # the matched entries name the resources the first post created
    assert [e["response"].get("location", "").split("/_history")[0]
            for e in again.get_json()["entry"]] == \
        [e["response"].get("location", "").split("/_history")[0]
         for e in first.get_json()["entry"]]
