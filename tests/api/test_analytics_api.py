"""$ssc-classification and $cohort-statistics over the stored examples (seed cases, cohort)."""
import csv
import io
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fhirsvc.cli import example_files, load_files, main

ROOT = Path(__file__).resolve().parents[2]
CLASSIFICATION = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/ssc-classification"


@pytest.fixture(scope="module")
def loaded(runtime):
    assert load_files(runtime, example_files(ROOT / "examples"), out=open(os.devnull, "w")) == 0
    return runtime


def test_classification_of_case_a_is_computed_from_stored_data(client, loaded):
    # the example bundles carry the classification the guide computed; the operation must
    # reach the same total from the stored evidence alone
    stored = client.get(f"/fhir/Observation?_profile={CLASSIFICATION}&_count=50").get_json()
    expected = {e["resource"]["subject"]["reference"]: e["resource"]["valueInteger"]
                for e in stored["entry"]}
    assert expected, "the examples carry classification Observations"
    for subject, total in expected.items():
        pid = subject.split("/")[1]
        resp = client.get(f"/fhir/Patient/{pid}/$ssc-classification")
        assert resp.status_code == 200, resp.get_json()
        obs = resp.get_json()
        assert obs["resourceType"] == "Observation" and CLASSIFICATION in obs["meta"]["profile"]
        assert obs["subject"]["reference"] == subject
        assert obs["valueInteger"] == total
    assert 12 in expected.values()  # case A is classified (ACR/EULAR 2013 >= 9)


def test_classification_can_be_stored(client, loaded):
    first = client.get(f"/fhir/Observation?_profile={CLASSIFICATION}&_count=1").get_json()
    pid = first["entry"][0]["resource"]["subject"]["reference"].split("/")[1]
    resp = client.get(f"/fhir/Patient/{pid}/$ssc-classification?persist=true")
    assert resp.status_code == 201
    obs = resp.get_json()
    assert obs["id"] and obs["meta"]["versionId"] == "1"
    assert client.get(f"/fhir/Observation/{obs['id']}").status_code == 200


def test_classification_of_unknown_patient_is_404(client, loaded):
    resp = client.get("/fhir/Patient/nobody-here/$ssc-classification")
    assert resp.status_code == 404
    assert resp.get_json()["issue"][0]["code"] == "not-found"


def test_cohort_statistics_json_reproduces_the_published_counts(client, loaded):
    resp = client.get("/fhir/$cohort-statistics")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    stats = resp.get_json()
    assert stats["groups"] == {"SSc": 41, "RA": 26, "SLE": 14}
    psc = next(p for p in stats["prevalence"]
               if p["finding"] == "paraspinal-calcinosis" and p["group"] == "SSc")
    assert (psc["count"], psc["n"], psc["published"]) == (24, 41, "58.5%")
    assert psc["ci95_low"] < psc["proportion"] < psc["ci95_high"]
    # the published PSC-vs-SLE p = 0.005 is shown beside ours and flagged
    psc_sle = [c for c in stats["comparisons"]
               if c["finding"] == "paraspinal-calcinosis" and c["published"] == "0.005"]
    assert len(psc_sle) == 1 and psc_sle[0]["reproduces"] is False
    assert psc_sle[0]["p_value"] < 0.0001


def test_cohort_statistics_csv_and_svg(client, loaded):
    resp = client.get("/fhir/$cohort-statistics", headers={"Accept": "text/csv"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) > 5
    resp = client.get("/fhir/$cohort-statistics?_format=svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert ET.fromstring(resp.get_data()).tag.endswith("svg")
    assert client.get("/fhir/$cohort-statistics",
                      headers={"Accept": "application/pdf"}).status_code == 406


def test_cohort_stats_cli(loaded, capsys, monkeypatch):
    monkeypatch.setenv("FHIRSVC_DATABASE_URL", loaded.config.database_url)
    assert main(["cohort-stats", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") > 5
