"""Generate examples/invalid/NAME.json + NAME.expected.json: resources that each break one rule
of the calcinosis guide, with the issues (severity + FHIRPath expression) they must raise.

Each invalid resource claims (meta.profile) the guide profile it breaks. Expressions follow the
HL7 validator's conventions: a missing required element is reported on its parent, a choice
element by its typed name (valueInteger), an invariant on the element that carries it.
Usage: python scripts/gen_invalid.py
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ig_builder import (EXT, ROOT, cc, cig, clinical, coding, condcat, dcm, dermatome, lnc, obscat,  # noqa: E402
                        profile, qty, sct, site, site_extensions, verified, write)

PAT = {"reference": "Patient/case-a"}
THORACIC = sct("122495006", "Thoracic spine")
LOWER_LIMB = sct("61685007", "Lower limb")


def res(rtype: str, prof: str, rid: str, **fields) -> dict:
    return {"resourceType": rtype, "id": rid, "meta": {"profile": [profile(prof)]}, **fields}


def patient() -> dict:
    return res("Patient", "ssc-patient", "invalid-patient",
               identifier=[{"system": "http://hospital-a.example.org/fhir/sid/mrn", "value": "A-001"}],
               gender="female", birthDate="1952-09-15")


def mrc(grade=2) -> dict:
    return res("Observation", "muscle-strength", "invalid-mrc", status="final", category=obscat("exam"),
               code=cc(cig("mrc-muscle-strength")), subject=PAT, effectiveDateTime="2006-04-10",
               valueInteger=grade, bodySite=site(cig("tibialis-anterior"), laterality="left"))


def lab() -> dict:
    return res("Observation", "ssc-lab", "invalid-lab", status="final", category=obscat("laboratory"),
               code=cc(lnc("17861-6", "Calcium [Mass/volume] in Serum or Plasma")), subject=PAT,
               effectiveDateTime="2006-04-10", valueQuantity=qty(9.0, "mg/dL"))


def calcinosis(kind="paraspinal-calcinosis") -> dict:
    return res("Condition", "calcinosis-condition", "invalid-calcinosis", clinicalStatus=clinical("active"),
               verificationStatus=verified(), category=condcat(), code=cc(cig(kind)), subject=PAT,
               bodySite=[site(THORACIC, laterality="bilateral", ranges=(("T4", "T5"),), comp="intervertebral-space")])


def lesion() -> dict:
    return res("BodyStructure", "calcinosis-lesion", "invalid-lesion",
               extension=site_extensions(ranges=(("T4", "T5"),), comp="facet-joint"),
               identifier=[{"system": "http://hospital.example.org/fhir/sid/calcinosis-lesion", "value": "A-L3"}],
               morphology=cc(cig("tumoral-calcinosis")), location=cc(THORACIC), patient=PAT)


def ssc() -> dict:
    return res("Condition", "ssc-condition", "invalid-ssc", clinicalStatus=clinical("active"),
               verificationStatus=verified(), category=condcat(),
               code=cc(sct("128460000", "Systemic sclerosis, diffuse")), subject=PAT)


def finding() -> dict:
    return res("Observation", "imaging-finding", "invalid-finding", status="final", category=obscat("imaging"),
               code=cc(cig("disc-bulging")), subject=PAT, effectiveDateTime="2006-04-11",
               valueCodeableConcept=cc(cig("present")), method=cc(dcm("CT")),
               bodySite=site(THORACIC, ranges=(("T3", "T4"),), comp="intervertebral-space"))


def report() -> dict:
    return res("DiagnosticReport", "calcinosis-imaging-report", "invalid-report", status="final",
               category=[cc(coding("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology"))],
               code=cc(lnc("24978-9", "Spine Thoracic CT")), subject=PAT, effectiveDateTime="2006-04-11",
               result=[{"reference": "Observation/invalid-finding"}])


def lasegue() -> dict:
    return res("Observation", "lasegue-sign", "invalid-lasegue", status="final", category=obscat("exam"),
               code=cc(cig("lasegue-sign")), subject={"reference": "Patient/case-b"}, effectiveDateTime="2012-03-05",
               valueCodeableConcept=cc(cig("positive")), bodySite=site(LOWER_LIMB, laterality="left"),
               component=[{"code": cc(cig("lasegue-angle")), "valueQuantity": qty(30, "deg")}])


def medication() -> dict:
    return res("MedicationStatement", "ssc-medication-statement", "invalid-medication", status="active",
               medicationCodeableConcept=cc(cig("diltiazem")), subject=PAT, effectivePeriod={"start": "2006-05-12"},
               dosage=[{"text": "90 mg daily", "doseAndRate": [{"doseQuantity": qty(90, "mg")}]}])


def manifestation() -> dict:
    return res("Condition", "ssc-manifestation", "invalid-raynaud",
               extension=[{"url": EXT + "raynaud-frequency", "valueCodeableConcept": cc(cig("raynaud-daily"))}],
               clinicalStatus=clinical("active"), verificationStatus=verified(), category=condcat(),
               code=cc(sct("266261006", "Raynaud's phenomenon")), subject=PAT)


MRSS_SITES = ("face", "anterior-chest", "abdomen", "fingers-right", "fingers-left", "hand-right", "hand-left",
              "forearm-right", "forearm-left", "upper-arm-right", "upper-arm-left", "thigh-right", "thigh-left",
              "leg-right", "leg-left", "foot-right", "foot-left")


def mrss(scores=(1,) * 17, total=None) -> dict:
    return res("Observation", "mrss", "invalid-mrss", status="final", category=obscat("exam"),
               code=cc(cig("mrss")), subject=PAT, effectiveDateTime="2006-04-10",
               valueInteger=sum(scores) if total is None else total,
               component=[{"code": cc(cig(f"mrss-{s_}")), "valueInteger": v} for s_, v in zip(MRSS_SITES, scores)])


def sensory() -> dict:
    return res("Observation", "neuro-exam-finding", "invalid-sensory",
               extension=[{"url": EXT + "sensory-level", "valueCodeableConcept": cc(dermatome("T4"))}],
               status="final", category=obscat("exam"), code=cc(cig("sensory-level")), subject=PAT,
               effectiveDateTime="2006-04-10", valueCodeableConcept=cc(cig("severely-decreased")),
               method=cc(cig("pain-sensation")))


def encounter() -> dict:
    return res("Encounter", "calcinosis-encounter", "invalid-encounter",
               extension=[{"url": EXT + "relative-timing", "extension": [
                   {"url": "anchor", "valueReference": {"reference": "Encounter/case-a-admission"}},
                   {"url": "offset", "valueDuration": {"value": 1, "unit": "mo", "system": "http://unitsofmeasure.org",
                                                       "code": "mo"}}]}],
               status="finished", **{"class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP",
                                                     "inpatient encounter")},
               subject=PAT, period={"start": "2006-05-10"})


def err(*expressions: str) -> list[dict]:
    return [{"severity": "error", "expression": e} for e in expressions]


CASES: list[tuple[str, str, object, list[dict]]] = []


def case(name: str, description: str, issues: list[dict]):
    def deco(fn):
        CASES.append((name, description, fn, issues))
        return fn
    return deco


@case("mrc-grade-7", "MRC grade 7 is outside the 0-5 scale (maxValueInteger 5)", err("Observation.valueInteger"))
def _():
    return mrc(7)


@case("mrc-grade-negative", "MRC grade -1 is below the 0-5 scale (minValueInteger 0)", err("Observation.valueInteger"))
def _():
    return mrc(-1)


@case("mrc-without-laterality", "A muscle strength grade without the side of the muscle (laterality 1..1)",
      err("Observation.bodySite"))
def _():
    r = mrc()
    del r["bodySite"]["extension"]
    return r


@case("mrc-unknown-muscle", "Muscle not in the Muscle value set (required binding on bodySite)",
      err("Observation.bodySite"))
def _():
    r = mrc()
    r["bodySite"]["coding"] = [sct("61685007", "Lower limb")]
    return r


@case("lab-missing-unit", "Serum calcium without a UCUM unit (invariant cig-ucum-1)", err("Observation.valueQuantity"))
def _():
    r = lab()
    r["valueQuantity"] = {"value": 9.0}
    return r


@case("lab-unknown-test", "Laboratory code outside the SSc laboratory value set (required binding)",
      err("Observation.code"))
def _():
    r = lab()
    r["code"] = cc(sct("86273004", "Biopsy"))
    return r


@case("unknown-calcinosis-kind", "Calcinosis kind that is in the guide's CodeSystem but not a calcinosis kind "
      "(required binding to CalcinosisKindVS)", err("Condition.code"))
def _():
    return calcinosis("disc-bulging")


@case("spinal-calcinosis-without-level", "Paraspinal calcinosis without a spinal level or range (invariant cig-level-1)",
      err("Condition"))
def _():
    r = calcinosis()
    r["bodySite"] = [site(THORACIC, laterality="bilateral", comp="intervertebral-space")]
    return r


@case("calcinosis-without-bodysite", "Calcinosis Condition without a body site (bodySite 1..*)", err("Condition"))
def _():
    r = calcinosis("calcinosis-cutis")
    del r["bodySite"]
    return r


@case("laterality-outside-value-set", "Laterality 'Unilateral' (66459002) is not in the Laterality value set",
      err("Condition.bodySite[0].extension[0].valueCodeableConcept"))
def _():
    r = calcinosis()
    r["bodySite"][0]["extension"][0]["valueCodeableConcept"] = cc(sct("66459002", "Unilateral"))
    return r


@case("spinal-level-outside-value-set", "Spinal level given as Sacrum (54735007), not a level of SpinalLevelVS",
      err("Condition.bodySite[0].extension[1].extension[0].valueCodeableConcept"))
def _():
    r = calcinosis()
    r["bodySite"][0]["extension"][1]["extension"][0]["valueCodeableConcept"] = cc(sct("54735007", "Sacrum"))
    return r


@case("compartment-outside-value-set", "Compartment 'Hand' is not a calcinosis compartment",
      err("Condition.bodySite[0].extension[2].valueCodeableConcept"))
def _():
    r = calcinosis()
    r["bodySite"][0]["extension"][2]["valueCodeableConcept"] = cc(sct("85562004", "Hand"))
    return r


@case("lesion-without-level", "Facet-joint lesion without a spinal level or range (invariant cig-level-2)",
      err("BodyStructure"))
def _():
    r = lesion()
    r["extension"] = [e for e in r["extension"] if not e["url"].endswith("spinal-level-range")]
    return r


@case("lesion-without-identifier", "Tracked lesion without an identifier (identifier 1..*)", err("BodyStructure"))
def _():
    r = lesion()
    del r["identifier"]
    return r


@case("patient-without-identifier", "SSc Patient without an identifier (identifier 1..*)", err("Patient"))
def _():
    r = patient()
    del r["identifier"]
    return r


@case("patient-without-birthdate", "SSc Patient without a birth date (birthDate 1..1)", err("Patient"))
def _():
    r = patient()
    del r["birthDate"]
    return r


@case("ssc-wrong-subtype", "SSc Condition coded as rheumatoid arthritis (required binding to SScConditionVS)",
      err("Condition.code"))
def _():
    r = ssc()
    r["code"] = cc(sct("69896004", "Rheumatoid arthritis"))
    return r


@case("ssc-without-verification-status", "SSc Condition without verificationStatus (1..1)", err("Condition"))
def _():
    r = ssc()
    del r["verificationStatus"]
    return r


@case("finding-wrong-modality", "Imaging finding whose method is not an imaging modality (required binding)",
      err("Observation.method"))
def _():
    r = finding()
    r["method"] = cc(cig("elisa"))
    return r


@case("report-wrong-category", "Imaging report with category LAB instead of RAD (pattern)",
      err("DiagnosticReport.category[0]"))
def _():
    r = report()
    r["category"] = [cc(coding("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory"))]
    return r


@case("lasegue-angle-in-radians", "Lasegue angle in rad instead of UCUM deg (fixed code)",
      err("Observation.component[0].valueQuantity.code"))
def _():
    r = lasegue()
    r["component"][0]["valueQuantity"] = qty(0.52, "rad")
    return r


@case("medication-dose-without-ucum", "Diltiazem dose without a UCUM unit (invariant cig-ucum-1)",
      err("MedicationStatement.dosage[0].doseAndRate[0].doseQuantity"))
def _():
    r = medication()
    r["dosage"][0]["doseAndRate"][0]["doseQuantity"] = {"value": 90, "unit": "milligram"}
    return r


@case("raynaud-frequency-outside-value-set", "Raynaud frequency coded 'present' (not a frequency)",
      err("Condition.extension[0].valueCodeableConcept"))
def _():
    r = manifestation()
    r["extension"][0]["valueCodeableConcept"] = cc(cig("present"))
    return r


@case("case-bundle-not-transaction", "Case Bundle sent as a batch (type fixed to transaction)", err("Bundle.type"))
def _():
    p = patient()
    del p["id"]
    return {"resourceType": "Bundle", "id": "invalid-bundle", "meta": {"profile": [profile("calcinosis-case-bundle")]},
            "type": "batch", "entry": [{"fullUrl": "urn:uuid:2f0a3a54-5c9b-4a3e-9a57-0f7d2d7e6a01", "resource": p,
                                        "request": {"method": "POST", "url": "Patient"}}]}


@case("mrc-coded-grade-outside-scale", "Coded MRC grade that is not an MRC grade (required binding to MRCGradeVS)",
      err("Observation.valueCodeableConcept"))
def _():
    r = mrc()
    del r["valueInteger"]
    r["valueCodeableConcept"] = cc(cig("improved"))
    return r


@case("mrss-site-score-4", "mRSS site scored 4 (each site is 0-3, maxValueInteger 3)",
      err("Observation.component[0].valueInteger"))
def _():
    return mrss((4,) + (1,) * 16)


@case("mrss-total-not-the-sum", "mRSS total 30 while the 17 site scores sum to 17 (invariant cig-mrss-1)",
      err("Observation"))
def _():
    return mrss(total=30)


@case("sensory-level-as-vertebra", "Sensory level coded with the T4 vertebra (73071006): a dermatome is not a "
      "vertebra (required binding to DermatomeVS)", err("Observation.extension[0].valueCodeableConcept"))
def _():
    r = sensory()
    r["extension"][0]["valueCodeableConcept"] = cc(sct("73071006", "T4"))
    return r


@case("relative-timing-without-ucum", "Encounter timed 'one month after' with a Duration that is not UCUM "
      "(invariant cig-ucum-1)", err("Encounter.extension[0].extension[1].valueDuration"))
def _():
    r = encounter()
    r["extension"][0]["extension"][1]["valueDuration"] = {"value": 1, "unit": "month"}
    return r


def main() -> None:
    out = ROOT / "examples" / "invalid"
    if out.exists():
        shutil.rmtree(out)
    for name, description, fn, issues in CASES:
        write(out / f"{name}.json", fn())
        write(out / f"{name}.expected.json", {"description": description, "issues": issues})


if __name__ == "__main__":
    main()
