"""ACR/EULAR 2013 SSc classification from recorded data: the seed cases and constructed edge
cases (thresholds, highest weight per item, explicit absence versus nothing recorded)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirsvc.analytics import resources_from_bundles, ssc_classification
from fhirsvc.analytics.codes import CIG, DAR, INTERP, SCT, SUPPORTING_INFO

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PAT = {"resourceType": "Patient", "id": "p1"}


def cond(code, system=CIG, ver="confirmed", rid=None):
    return {"resourceType": "Condition", "id": rid or code, "subject": {"reference": "Patient/p1"},
            "recordedDate": "2020-01-01",
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": ver}]},
            "code": {"coding": [{"system": system, "code": code}]}}


def lab(code, result, rid=None, status="final"):
    return {"resourceType": "Observation", "id": rid or code, "status": status, "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2020-02-01", "code": {"coding": [{"system": CIG, "code": code}]},
            "valueCodeableConcept": {"coding": [{"system": INTERP, "code": result}]}}


def items(obs) -> dict:
    return {c["code"]["coding"][0]["code"]: c.get("valueInteger") for c in obs["component"]}


def verdict(obs) -> str:
    return obs["interpretation"][0]["coding"][0]["code"]


def case(name):
    return resources_from_bundles(json.loads((EXAMPLES / f"{name}.json").read_text()))


def test_case_a_scores_12_and_is_classified():
    res = [r for r in case("case-a") if not r["meta"]["profile"][0].endswith("ssc-classification")]
    obs = ssc_classification(res, effective="2006-04-10")
    assert obs["valueInteger"] == 12 and verdict(obs) == "ssc-classified"
    assert items(obs) == {"acr-skin-proximal": None, "acr-finger-skin": None, "acr-fingertip-lesions": 2,
                          "acr-telangiectasia": 2, "acr-nailfold-capillaries": None, "acr-pah-ild": 2,
                          "acr-raynaud": 3, "acr-autoantibodies": 3}
    # Raynaud's, digital ulcers, telangiectasia, ILD are Conditions (supportingInfo); anti-Scl-70 and
    # the digital-ulcer status are Observations (derivedFrom)
    assert len(obs["extension"]) == 4 and all(e["url"] == SUPPORTING_INFO for e in obs["extension"])
    kinds = {next(r for r in res if f"Observation/{r['id']}" == d["reference"])["code"]["coding"][0]["code"]
             for d in obs["derivedFrom"]}
    assert kinds == {"anti-scl-70", "digital-ulcers-ever", "digital-ulcers-active"}
    unknown = [c for c in obs["component"] if "dataAbsentReason" in c]
    assert len(unknown) == 3 and unknown[0]["dataAbsentReason"]["coding"][0] == {
        "system": DAR, "code": "unknown", "display": "Unknown"}


def test_case_b_has_insufficient_data():
    res = [r for r in case("case-b") if not r["meta"]["profile"][0].endswith("ssc-classification")]
    obs = ssc_classification(res)
    assert obs["valueInteger"] == 0 and verdict(obs) == "ssc-insufficient-data"
    assert "derivedFrom" not in obs and "extension" not in obs
    assert obs["effectiveDateTime"] == max(d for r in res for k, d in r.items()
                                           if k in ("effectiveDateTime", "recordedDate", "onsetDateTime"))


def test_the_sufficient_criterion_alone_classifies():
    obs = ssc_classification([PAT, cond("skin-thickening-proximal-to-mcp")])
    assert obs["valueInteger"] == 9 and verdict(obs) == "ssc-classified"


def test_eight_points_is_not_enough_and_nine_is():
    eight = [PAT, cond("sclerodactyly"), cond("telangiectasia-x", rid="t") | {"code": {"coding": [
        {"system": SCT, "code": "403516008"}]}}, cond("abnormal-nailfold-capillaries")]
    obs = ssc_classification(eight)
    assert obs["valueInteger"] == 8 and verdict(obs) == "ssc-insufficient-data"
    obs = ssc_classification(eight + [cond("puffy-fingers"), cond("fingertip-pitting-scars")])
    assert obs["valueInteger"] == 11 and verdict(obs) == "ssc-classified"


def test_each_item_counts_only_its_highest_sub_item():
    obs = ssc_classification([PAT, cond("puffy-fingers"), cond("sclerodactyly"), cond("digital-ulcer"),
                              cond("fingertip-pitting-scars"), cond("pulmonary-arterial-hypertension"),
                              cond("233703007", SCT), lab("anti-scl-70", "POS"), lab("anti-centromere", "POS")])
    assert items(obs)["acr-finger-skin"] == 4 and items(obs)["acr-fingertip-lesions"] == 3
    assert items(obs)["acr-pah-ild"] == 2 and items(obs)["acr-autoantibodies"] == 3
    assert obs["valueInteger"] == 12


def test_explicit_absence_scores_zero_and_can_decide_not_classified():
    recorded = [PAT, cond("266261006", SCT), cond("skin-thickening-proximal-to-mcp", ver="refuted"),
                cond("puffy-fingers", ver="refuted"), cond("sclerodactyly", ver="refuted"),
                cond("digital-ulcer", ver="refuted"), cond("fingertip-pitting-scars", ver="refuted"),
                cond("abnormal-nailfold-capillaries", ver="refuted")]
    obs = ssc_classification(recorded)
    assert items(obs)["acr-skin-proximal"] == 0 and items(obs)["acr-raynaud"] == 3
    # unrecorded: telangiectasia 2, PAH/ILD 2, antibodies 3 -> at most 10: still undecided
    assert verdict(obs) == "ssc-insufficient-data"
    obs = ssc_classification(recorded + [lab("anti-scl-70", "NEG"), lab("anti-centromere", "NEG"),
                                         lab("anti-rna-polymerase-iii", "NEG")])
    assert items(obs)["acr-autoantibodies"] == 0 and verdict(obs) == "ssc-not-classified"      # at most 7


def test_entered_in_error_results_and_zero_ild_extent_are_not_evidence():
    ild0 = {"resourceType": "Observation", "id": "ild", "status": "final", "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2020-01-01", "code": {"coding": [{"system": CIG, "code": "ild-extent"}]},
            "valueQuantity": {"value": 0, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}
    obs = ssc_classification([PAT, lab("anti-scl-70", "POS", status="entered-in-error"), ild0])
    assert items(obs)["acr-autoantibodies"] is None
    assert items(obs)["acr-pah-ild"] is None                    # no ILD, but PAH not recorded
    no_pah = cond("pulmonary-arterial-hypertension", ver="refuted")
    assert items(ssc_classification([PAT, ild0, no_pah]))["acr-pah-ild"] == 0
    ild0["valueQuantity"]["value"] = 15
    assert items(ssc_classification([PAT, ild0]))["acr-pah-ild"] == 2


def test_resources_of_two_patients_or_no_date_are_refused():
    other = cond("266261006", SCT, rid="x") | {"subject": {"reference": "Patient/p2"}}
    with pytest.raises(ValueError, match="more than one patient"):
        ssc_classification([PAT, cond("puffy-fingers"), other])
    with pytest.raises(ValueError, match="no date"):
        ssc_classification([PAT])
    with pytest.raises(ValueError, match="no patient"):
        ssc_classification([])
    obs = ssc_classification([cond("puffy-fingers")])           # subject alone is enough
    assert obs["subject"] == {"reference": "Patient/p1"}


def test_output_claims_the_profile_and_validates_strictly():
    obs = ssc_classification(case("case-a"), effective="2006-04-10")
    assert obs["meta"]["profile"] == ["http://fhirsvc.org/fhir/calcinosis/StructureDefinition/ssc-classification"]
    from fhirsvc.validation import Validator
    errors = [(i.expression, i.message) for i in Validator().validate(obs, strict=True)
              if i.severity in ("error", "fatal")]
    assert not errors, errors
