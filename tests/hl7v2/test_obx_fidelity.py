"""OBX rules of issue 10 (converter only, no database): dataAbsentReason for an OBX without a
value, the UCUM unit and LOINC code the R4 vital-signs profiles require (errors located at the
OBX field to fix), OBX-18 / 19 / 20 after the guide's OBX[Observation] rows."""
import pytest

from fhirsvc.hl7v2 import Hl7v2Error, parse
from fhirsvc.hl7v2.conceptmaps import ConceptMapIndex
from fhirsvc.hl7v2.convert import Converter

DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
HEAD = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|f1|P|2.5.1\r"
        "PID|1||F-001^^^HOSPA^MR||Doe^Jane||19520915|F\r"
        "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r")


def observations(obx: str, converter=None):
    (msg,) = parse(HEAD + obx + "\r")
    b = (converter or Converter()).convert(msg).bundle
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]


def refused(obx: str, converter=None):
    with pytest.raises(Hl7v2Error) as exc:
        observations(obx, converter)
    return [(str(p.location), p.code, p.message) for p in exc.value.problems]


def reason(res):
    return [(c["system"], c["code"]) for c in res["dataAbsentReason"]["coding"]]


# -- an OBX without a value: a dataAbsentReason, for every value type, never an AE ------------
@pytest.mark.parametrize("vtype", ["NM", "SN", "ST", "TX", "FT", "CWE", "CE", "DT", "DTM", "TS",
                                   "TM", "ED", "RP"])
def test_no_value_gives_a_data_absent_reason_for_every_value_type(vtype):
    (obs,) = observations(f"OBX|1|{vtype}|17861-6^Calcium^LN||||||||F")
    assert not any(k.startswith("value") for k in obs)
    assert reason(obs) == [(DAR, "unknown")]
    assert obs["status"] == "final"


@pytest.mark.parametrize("status, code, fhir_status", [
    ("N", "not-asked", "unknown"),        # the guide's OBX-11 N row
    ("I", "temp-unknown", "unknown"),     # results pending
    ("X", "not-performed", "cancelled"),  # results cannot be obtained
    ("F", "unknown", "final"),
    ("", "unknown", "unknown"),
])
def test_the_reason_follows_obx_11(status, code, fhir_status):
    (obs,) = observations(f"OBX|1|NM|17861-6^Calcium^LN||||||||{status}")
    assert reason(obs) == [(DAR, code)]
    assert obs["status"] == fhir_status


def test_ed_and_rp_values_are_kept_and_say_r4_cannot_hold_them():
    (ed,) = observations("OBX|1|ED|11502-2^Report^LN||^AP^PDF^Base64^SGVsbG8=||||||F")
    (rp,) = observations("OBX|1|RP|18748-4^Image^LN||https://x.example/i^^image^JPEG||||||F")
    for obs in (ed, rp):
        assert obs["extension"][0]["url"].endswith("extension-Observation.valueAttachment")
        assert reason(obs) == [(DAR, "unsupported")]


def test_a_value_gives_no_reason():
    (obs,) = observations("OBX|1|NM|17861-6^Calcium^LN||9.1|mg/dL|||||F")
    assert "dataAbsentReason" not in obs
    obs, = observations("OBX|1|NM|17861-6^Calcium^LN||9.1~9.3|mg/dL|||||F")
    assert "component" in obs and "dataAbsentReason" not in obs   # components are its values


# -- vital signs: the unit and the LOINC code the R4 profiles require ---------------------------
HR = "OBX|1|NM|8867-4^Heart rate^LN||72|{unit}|||||F|||20240101100000+0100"


def test_vital_sign_unit_mapped_to_the_ucum_the_profile_requires():
    (obs,) = observations(HR.format(unit="bpm"))
    q = obs["valueQuantity"]
    assert (q["system"], q["code"], q["unit"]) == ("http://unitsofmeasure.org", "/min", "bpm")
    (w,) = observations("OBX|1|NM|29463-7^Body weight^LN||150|lb|||||F")
    assert w["valueQuantity"]["code"] == "[lb_av]" and w["valueQuantity"]["unit"] == "lb"


def test_vital_sign_with_the_wrong_unit_is_refused_at_obx_6():
    problems = refused(HR.format(unit="kg^^UCUM"))
    assert [(loc, code) for loc, code, _ in problems] == [("OBX[1]-6", "103")]
    assert "/min" in problems[0][2] and "'kg'" in problems[0][2]
    problems = refused("OBX|1|NM|29463-7^Body weight^LN||61|cm|||||F")
    assert [(loc, code) for loc, code, _ in problems] == [("OBX[1]-6", "103")]


def test_vital_sign_without_a_unit_is_refused_at_obx_6():
    problems = refused(HR.format(unit=""))
    assert [(loc, code) for loc, code, _ in problems] == [("OBX[1]-6", "101")]


def test_lab_result_units_are_not_held_to_a_vital_sign_profile():
    (obs,) = observations("OBX|1|NM|17861-6^Calcium^LN||9.1|kg|||||F")
    assert obs["valueQuantity"]["code"] == "kg"


SCT_HR = "OBX|1|NM|364075005^Heart rate^SCT{alt}||72|/min^^UCUM|||||F|||20240101100000+0100"


def test_snomed_only_vital_sign_is_refused_at_obx_3_naming_the_loinc_code():
    problems = refused(SCT_HR.format(alt=""))
    assert [(loc, code) for loc, code, _ in problems] == [("OBX[1]-3", "103")]
    assert "8867-4" in problems[0][2] and "ConceptMap" in problems[0][2]


def test_snomed_vital_sign_with_its_loinc_alternate_is_a_vital_sign():
    (obs,) = observations(SCT_HR.format(alt="^8867-4^Heart rate^LN"))
    assert {c["code"] for c in obs["code"]["coding"]} == {"364075005", "8867-4"}
    assert obs["category"][0]["coding"][0]["code"] == "vital-signs"


def test_snomed_vital_sign_translated_by_a_conceptmap():
    cm = {"resourceType": "ConceptMap", "group": [{
        "source": "http://snomed.info/sct", "target": "http://loinc.org",
        "element": [{"code": "364075005", "target": [{"code": "8867-4",
                                                      "equivalence": "equivalent"}]}]}]}
    conv = Converter(translate=ConceptMapIndex([cm]).translate)
    (obs,) = observations(SCT_HR.format(alt=""), conv)
    assert obs["code"]["coding"][0] == {"system": "http://loinc.org", "code": "8867-4"}
    assert obs["code"]["coding"][1]["code"] == "364075005"     # the sent code kept
    assert obs["category"][0]["coding"][0]["code"] == "vital-signs"


# -- OBX-18, OBX-19, OBX-20 after OBX[Observation] ------------------------------------------------
def test_device_analysis_time_and_body_site():
    (obs,) = observations("OBX|1|NM|17861-6^Calcium^LN||9.1|mg/dL|||||F|||20240101100000+0100"
                          "||||DEV-7^ANALYSER^1.2.3^ISO|20240101110500+0100|"
                          "368209003^Right arm^SCT")
    assert obs["device"] == {"identifier": {"value": "DEV-7", "system": "urn:oid:1.2.3"}}
    assert obs["extension"] == [{
        "url": "http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time",
        "valueDateTime": "2024-01-01T11:05:00+01:00"}]
    assert "issued" not in obs     # OBX-19 is when it was analysed, not when it was released
    assert obs["bodySite"]["coding"][0] == {"system": "http://snomed.info/sct",
                                            "code": "368209003", "display": "Right arm"}


def test_responsible_observer_is_a_logical_practitioner_reference():
    (obs,) = observations("OBX|1|NM|17861-6^Calcium^LN||9.1|mg/dL|||||F|||||"
                          "1134^Aly^Zafar^Mahendra^JR^Dr.^MD^^HOSPA-PRSNL^^^^PRN~^Roe^Ann")
    assert obs["performer"] == [
        {"type": "Practitioner", "display": "Dr. Zafar Mahendra Aly JR",
         "identifier": {"value": "1134", "system": obs["performer"][0]["identifier"]["system"],
                        "type": {"coding": [{"system":
                                             "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "PRN"}]}}},
        {"type": "Practitioner", "display": "Ann Roe"}]
    assert obs["performer"][0]["identifier"]["system"].endswith("HOSPA-PRSNL")
