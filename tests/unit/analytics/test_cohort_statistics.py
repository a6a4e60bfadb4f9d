"""Cohort statistics: the seed cohort (published counts, p-values beside the paper's) and
constructed populations (no study, index case, refuted findings, arm/diagnosis mismatch)."""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scipy.stats import binomtest, fisher_exact

from fhirsvc.analytics import cohort_statistics, resources_from_bundles, statistics_csv, statistics_svg
from fhirsvc.analytics.codes import CIG, SCT
from fhirsvc.analytics.cohort import reproduces

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def stored():
    return resources_from_bundles(*(json.loads((EXAMPLES / f"{n}.json").read_text())
                                    for n in ("case-a", "case-b", "cohort")))


@pytest.fixture(scope="module")
def stats(stored):
    return cohort_statistics(stored)


def find(rows, **kw):
    (row,) = [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
    return row


def test_group_counts_exclude_the_index_case_and_the_other_case(stats):
    assert stats["groups"] == {"SSc": 41, "RA": 26, "SLE": 14} and not stats["warnings"]
    assert stats["study"]["published_groups"] == {"SSc": 41, "RA": 26, "SLE": 14}


def test_prevalence_with_exact_interval(stats):
    psc = find(stats["prevalence"], finding="paraspinal-calcinosis", group="SSc")
    assert (psc["count"], psc["n"], psc["published"]) == (24, 41, "58.5%")
    ci = binomtest(24, 41).proportion_ci(method="exact")
    assert (psc["ci95_low"], psc["ci95_high"]) == pytest.approx((ci.low, ci.high))
    assert psc["ci95_low"] < psc["proportion"] < psc["ci95_high"]
    ic = {g: round(100 * find(stats["prevalence"], finding="intracranial-calcification", group=g)["proportion"])
          for g in ("SSc", "RA", "SLE")}
    assert ic == {"SSc": 27, "RA": 23, "SLE": 21}
    # features recorded only in SSc are not reported for the comparators
    assert not [r for r in stats["prevalence"] if r["finding"] == "calcinosis-cutis" and r["group"] != "SSc"]


def test_comparisons_beside_the_published_values(stats):
    rows = {(r["finding"], r["comparison"]): r for r in stats["comparisons"]}
    psc_ra = rows[("paraspinal-calcinosis", "SSc vs RA")]
    assert psc_ra["table"] == [[24, 17], [1, 25]] and psc_ra["p_value"] == pytest.approx(4.3e-6, rel=0.02)
    assert psc_ra["published"] == "<0.0005" and psc_ra["reproduces"] is True
    psc_sle = rows[("paraspinal-calcinosis", "SSc vs SLE")]
    assert psc_sle["p_value"] == pytest.approx(7.9e-5, rel=0.01) and psc_sle["published"] == "0.005"
    assert psc_sle["reproduces"] is False and "misprint" in psc_sle["note"]
    assert rows[("intraspinal-calcinosis", "SSc vs RA")]["p_value"] == pytest.approx(0.0021, abs=5e-5)
    assert rows[("intraspinal-calcinosis", "SSc vs SLE")]["p_value"] == pytest.approx(0.0246, abs=5e-5)
    assert all(rows[(f, c)]["reproduces"] for f, c in rows if (f, c) != ("paraspinal-calcinosis", "SSc vs SLE"))
    for r in stats["comparisons"]:
        assert r["p_value"] == pytest.approx(fisher_exact(r["table"])[1])


def test_within_ssc_associations(stats):
    rows = {(r["finding"], r["with"]): r for r in stats["associations"]}
    assert len(rows) == 8
    for (feat, spinal), r in rows.items():
        if feat != "intracranial-calcification":
            assert r["direction"].startswith("more frequent"), (feat, spinal)
    cutis = rows[("calcinosis-cutis", "paraspinal-calcinosis")]
    assert cutis["reproduces"] is False and cutis["achievable_by_fisher"] is False
    assert "Yates" in cutis["note"] and reproduces(cutis["yates_p_value"], "0.015")
    du = rows[("digital-ulcer", "paraspinal-calcinosis")]
    assert du["reproduces"] is False and du["achievable_by_fisher"] is True   # alone yes, not with ISC
    assert sum(bool(r["reproduces"]) for r in rows.values()) == 6               # 4 of 6 + intracranial x2


def test_reproduces_rules():
    assert reproduces(0.0246, "0.02") and reproduces(0.0021, "0.002") and not reproduces(7.9e-5, "0.005")
    assert reproduces(4.3e-6, "<0.0005") and not reproduces(0.0006, "<0.0005")
    assert reproduces(0.7, "not associated") and not reproduces(0.01, "not associated")
    assert reproduces(0.5, None) is None


def pat(pid):
    return {"resourceType": "Patient", "id": pid}


def cond(pid, code, system=CIG, ver="confirmed", n=0):
    return {"resourceType": "Condition", "id": f"{pid}-{code}-{n}", "subject": {"reference": f"Patient/{pid}"},
            "verificationStatus": {"coding": [{"code": ver}]}, "code": {"coding": [{"system": system, "code": code}]}}


def test_without_a_study_every_diagnosed_patient_counts_and_refuted_findings_do_not():
    res = [pat("a"), cond("a", "89155008", SCT), cond("a", "paraspinal-calcinosis"),
           pat("b"), cond("b", "89155008", SCT), cond("b", "paraspinal-calcinosis", ver="refuted"),
           pat("c"), cond("c", "69896004", SCT), pat("d")]
    s = cohort_statistics(res)
    assert s["groups"] == {"SSc": 2, "RA": 1, "SLE": 0} and s["study"] is None
    assert find(s["prevalence"], finding="paraspinal-calcinosis", group="SSc")["count"] == 1
    assert all(r["published"] is None and r["reproduces"] is None for r in s["comparisons"] + s["associations"])
    assert {r["comparison"] for r in s["comparisons"]} == {"SSc vs RA"}       # no SLE patients


def test_arm_and_diagnosis_disagreeing_is_reported():
    study = {"resourceType": "ResearchStudy", "id": "s", "identifier": [{"system": "x", "value": "y"}],
             "arm": [{"name": "SSc", "type": {"coding": [{"system": CIG, "code": "cohort-ssc"}]}},
                     {"name": "RA", "type": {"coding": [{"system": CIG, "code": "cohort-ra"}]}}]}
    subj = [{"resourceType": "ResearchSubject", "id": f"rs{p}", "study": {"reference": "ResearchStudy/s"},
             "individual": {"reference": f"Patient/{p}"}, "assignedArm": arm} for p, arm in (("a", "SSc"), ("b", "SSc"))]
    res = [study, *subj, pat("a"), cond("a", "89155008", SCT), pat("b"), cond("b", "69896004", SCT),
           pat("z"), cond("z", "89155008", SCT)]                     # z is not a subject
    s = cohort_statistics(res)
    assert s["groups"] == {"SSc": 1, "RA": 1, "SLE": 0}
    assert s["warnings"] == ["Patient/b: arm SSc but diagnosis RA"]
    with pytest.raises(ValueError, match="no ResearchStudy"):
        cohort_statistics(res, study_identifier=("x", "nope"))
    assert cohort_statistics(res, study_identifier=("x", "y"))["groups"] == s["groups"]


def test_csv_has_a_row_per_number(stats):
    rows = list(csv.DictReader(io.StringIO(statistics_csv(stats))))
    assert len(rows) == len(stats["prevalence"]) + len(stats["comparisons"]) + len(stats["associations"])
    flagged = [r for r in rows if r["section"] == "comparison" and r["published"] == "0.005"]
    assert flagged[0]["reproduces"] == "false" and float(flagged[0]["p_value"]) == pytest.approx(7.9e-5, rel=0.01)
    assert [r["a"] for r in flagged] == ["24"] and "misprint" in flagged[0]["note"]


def test_svg_is_well_formed_with_a_bar_per_prevalence(stats):
    svg = statistics_svg(stats)
    root = ET.fromstring(svg)
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == len(stats["prevalence"])
    widths = sorted(float(r.get("width")) for r in rects)
    assert widths[0] == 0.0 and widths[-1] > 0
    assert "24/41" in svg
