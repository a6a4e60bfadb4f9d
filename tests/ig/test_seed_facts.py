"""Every fact of seed-facts.md has a precise home in the examples: one test per fact,
computed from the example files, named by the fact."""
from __future__ import annotations

from datetime import date

import pytest

from .helpers import CIG, LNC, SCT, Case, codes, ext, ext_code, has_code, sites, value_code

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
UCUM = "http://unitsofmeasure.org"
LEFT, RIGHT, BOTH = (SCT, "7771000"), (SCT, "24028007"), (SCT, "51440002")


@pytest.fixture(scope="module")
def a(bundles, guide):
    return Case(bundles["case-a"], guide)


@pytest.fixture(scope="module")
def b(bundles, guide):
    return Case(bundles["case-b"], guide)


def age(birth: str, on: str) -> int:
    bd, d = date.fromisoformat(birth), date.fromisoformat(on)
    return d.year - bd.year - ((d.month, d.day) < (bd.month, bd.day))


def qty(r):
    q = r["valueQuantity"]
    assert q["system"] == UCUM
    return q["value"], q["code"]


def encounter(case, label_start: str) -> tuple[str, dict]:
    """(fullUrl, Encounter) whose type text starts with label_start."""
    for e in case.entries:
        r = e["resource"]
        if r["resourceType"] == "Encounter" and r["type"][0]["text"].startswith(label_start):
            return e["fullUrl"], r
    raise AssertionError(f"no encounter '{label_start}'")


def timing(enc: dict) -> tuple:
    (rt,) = ext(enc, "relative-timing")
    parts = {x["url"]: x for x in rt["extension"]}
    d = parts["offset"]["valueDuration"]
    return parts["anchor"]["valueReference"]["reference"], d["value"], d["code"]


def mrc_grades(case, encounter_url):
    out = {}
    for r in case.all("Observation", "muscle-strength"):
        if r["encounter"]["reference"] == encounter_url:
            (site,) = sites(r)
            muscle = next(c for s, c in codes(site) if s == CIG)
            side = ext_code(site, "laterality")
            out[(muscle, "left" if LEFT in side else "right")] = r["valueInteger"]
    return out


# ---------------------------------------------------------------- case A
def test_A0_woman_53_at_admission(a):
    (p,) = a.all("Patient", "ssc-patient")
    assert p["gender"] == "female"
    admission = a.one("Observation", LNC, "17861-6")["effectiveDateTime"]
    assert age(p["birthDate"], admission) == 53


def test_A1_diffuse_cutaneous_ssc_diagnosed_10_years_before(a):
    r = a.one("Condition", SCT, "128460000", profile="ssc-condition")
    (dx,) = ext(r, "http://hl7.org/fhir/StructureDefinition/condition-assertedDate")
    assert int(r["recordedDate"][:4]) - int(dx["valueDateTime"][:4]) == 10
    assert has_code(r["verificationStatus"], "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")


def test_A2_two_week_history_of_lower_limb_weakness_and_numbness(a):
    admission = date(2006, 4, 10)
    for code in ((SCT, "26544005"), (CIG, "sensory-disturbance")):
        r = a.one("Condition", *code, profile="neurological-condition")
        assert (admission - date.fromisoformat(r["onsetDateTime"])).days == 14
        assert BOTH in ext_code(sites(r)[0], "laterality")


def test_A3_daily_raynaud_esophageal_hypomotility_ild(a):
    r = a.one("Condition", SCT, "266261006", profile="ssc-manifestation")
    assert (CIG, "raynaud-daily") in ext_code(r, "raynaud-frequency")
    a.one("Condition", CIG, "esophageal-hypomotility", profile="ssc-manifestation")
    a.one("Condition", SCT, "233703007", profile="ssc-manifestation")


def test_A4_skin_thickening_ulcers_calcinosis_cutis_telangiectasia(a):
    r = a.one("Condition", CIG, "skin-thickening")
    assert [s["text"] for s in r["bodySite"]] == ["trunk", "face", "limbs"]
    u = a.one("Condition", CIG, "digital-ulcer")
    assert u["bodySite"][0]["text"] == "fingertips" and "Multiple" in u["note"][0]["text"]
    c = a.one("Condition", CIG, "calcinosis-cutis", profile="calcinosis-condition")
    assert "peripheral" in c["bodySite"][0]["text"]
    a.one("Condition", SCT, "403516008")


def test_A5_mrc_grades_on_admission(a):
    grades = mrc_grades(a, encounter(a, "Admission")[0])
    assert grades == {(m, s): 2 for m in ("tibialis-anterior", "gastrocnemius", "iliopsoas", "quadriceps")
                      for s in ("left", "right")}


def test_A6_sensory_level_position_vibration_reflexes(a):
    r = a.one("Observation", CIG, "sensory-level")
    assert (CIG, "pain-sensation") in codes(r["method"]) and (CIG, "severely-decreased") in value_code(r)
    assert ext_code(r, "sensory-level") == {(CIG, "dermatome-T4"), (CIG, "dermatome-T5")}   # dermatomes
    for item in ("position-sense", "vibration-sense"):
        assert (CIG, "disturbed") in value_code(a.one("Observation", CIG, item))
    assert (CIG, "increased") in value_code(a.one("Observation", CIG, "tendon-reflexes"))
    assert (CIG, "negative") in value_code(a.one("Observation", CIG, "extensor-plantar-response"))


def test_A7_ct_thoracic_spine(a):
    rep = a.one("DiagnosticReport", LNC, "24978-9")
    found = [a.resolve(x) for x in rep["result"]]

    def where(code, present=True):
        return [(a.levels(r["bodySite"]), ext_code(r["bodySite"], "compartment")) for r in found
                if (CIG, code) in codes(r["code"]) and (CIG, "present" if present else "absent") in value_code(r)]
    assert where("paraspinal-calcinosis") == [({"T4", "T5"}, {(CIG, "intervertebral-space")})]
    assert where("intraspinal-calcinosis")[0][1] == {(SCT, "61853006")}
    assert sorted(sorted(lv) for lv, comp in where("tumoral-calcinosis") if comp == {(CIG, "facet-joint")}) == \
        [["T4", "T5"], ["T5", "T6"], ["T7", "T8"]]
    assert where("spinal-canal-narrowing") and where("spinal-cord-compression")
    assert sorted(sorted(lv) for lv, _ in where("disc-bulging")) == [["T3", "T4"], ["T4", "T5"]]
    absent = where("intraspinal-calcinosis", present=False)
    assert {"C1", "C7"} <= absent[0][0] and {"L1", "L5"} <= absent[1][0]
    intra = a.one("Condition", CIG, "intraspinal-calcinosis", profile="calcinosis-condition")
    assert (CIG, "spinal-cord-compression") in ext_code(intra, "calcinosis-complication")
    assert {"reference": next(e["fullUrl"] for e in a.entries if e["resource"] is rep)} in intra["evidence"][0]["detail"]
    tum = a.one("Condition", CIG, "tumoral-calcinosis", profile="calcinosis-condition")
    assert (CIG, "spinal-canal-narrowing") in ext_code(tum, "calcinosis-complication")
    assert len(list(a.all("BodyStructure", "calcinosis-lesion"))) == 6   # masses tracked across studies


def test_A8_hand_radiographs_soft_tissue_calcinosis(a):
    rep = a.one("DiagnosticReport", LNC, "28582-5")
    (f,) = [a.resolve(x) for x in rep["result"]]
    assert (CIG, "soft-tissue-calcinosis") in codes(f["code"])
    assert ("http://dicom.nema.org/resources/ontology/DCM", "DX") in codes(f["method"])
    assert "Severe" in f["note"][0]["text"] and has_code(f["bodySite"], SCT, "7569003")


def test_A9_laboratory(a):
    assert qty(a.one("Observation", LNC, "17861-6")) == (9.0, "mg/dL")
    assert qty(a.one("Observation", LNC, "2777-1")) == (2.8, "mg/dL")
    hs = a.one("Observation", CIG, "pth-highly-sensitive")
    assert qty(hs) == (460, "pg/mL")
    assert (hs["referenceRange"][0]["low"]["value"], hs["referenceRange"][0]["high"]["value"]) == (160, 520)
    intact = a.one("Observation", LNC, "2731-8")
    assert qty(intact) == (25, "pg/mL")
    assert (intact["referenceRange"][0]["low"]["value"], intact["referenceRange"][0]["high"]["value"]) == (10, 65)
    ana = a.one("Observation", LNC, "5048-4")
    assert qty(ana) == (2560, "{titer}") and (CIG, "iif-hep2") in codes(ana["method"])
    patterns = set().union(*(value_code(r) for r in a.coded("Observation", LNC, "14611-8")))
    assert {(CIG, "homogeneous"), (CIG, "speckled")} <= patterns
    scl = a.one("Observation", CIG, "anti-scl-70")
    assert (INTERP, "POS") in value_code(scl) and (CIG, "elisa") in codes(scl["method"])
    assert (INTERP, "NEG") in value_code(a.one("Observation", CIG, "other-autoantibodies"))


def test_A10_paraplegia_and_incontinence_one_month_after_admission(a):
    p = a.one("Condition", CIG, "paraplegia-complete")
    u = a.one("Condition", SCT, "165232002")
    adm_url, _ = encounter(a, "Admission")
    month_url, month = encounter(a, "One month after admission")
    assert timing(month) == (adm_url, 1, "mo")
    for r in (p, u):
        assert r["encounter"]["reference"] == month_url
        assert (date.fromisoformat(r["onsetDateTime"]) - date(2006, 4, 10)).days == 30


def test_A11_surgery_refused_diltiazem_90_mg_daily(a):
    (proc,) = list(a.all("Procedure"))
    assert proc["status"] == "not-done" and (CIG, "patient-refused") in codes(proc["statusReason"])
    med = a.one("MedicationStatement", CIG, "diltiazem", path="medicationCodeableConcept")
    dose = med["dosage"][0]
    assert dose["doseAndRate"][0]["doseQuantity"]["value"] == 90 and dose["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    assert dose["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d"}


def test_A12_three_months_later(a):
    later_url, later = encounter(a, "Three months later")
    assert timing(later) == (encounter(a, "One month after admission")[0], 3, "mo")
    grades = mrc_grades(a, later_url)
    expected = {"tibialis-anterior": 4, "gastrocnemius": 4, "iliopsoas": 3, "quadriceps": 3}
    assert grades == {(m, s): g for m, g in expected.items() for s in ("left", "right")}
    u = a.one("Condition", SCT, "165232002")
    assert u["abatementDateTime"] == later["period"]["start"]
    assert has_code(u["clinicalStatus"], "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved")


# ---------------------------------------------------------------- case B
def test_B0_woman_56(b):
    (p,) = b.all("Patient")
    assert p["gender"] == "female"
    assert age(p["birthDate"], b.one("Observation", CIG, "lasegue-sign")["effectiveDateTime"]) == 56


def test_B1_ssc_skin_biopsy_presentation_methotrexate(b):
    ssc = b.one("Condition", SCT, "89155008", profile="ssc-condition")
    texts = {c.get("text") for e in ssc["evidence"] for c in e.get("code", [])}
    assert {"swelling of the joints of the hands", "coldness of the extremities"} <= texts
    histo = {b.resolve(d)["valueCodeableConcept"]["coding"][0]["code"] for e in ssc["evidence"] for d in e.get("detail", [])}
    assert histo == {"reduced-dermal-vessels", "degenerated-collagen-elastic-fibres"}
    b.one("MedicationStatement", "http://www.nlm.nih.gov/research/umls/rxnorm", "6851", path="medicationCodeableConcept")


def test_B2_three_months_left_radiculopathy(b):
    r = b.one("Condition", SCT, "128196005")
    assert LEFT in ext_code(sites(r)[0], "laterality")
    _, pres = encounter(b, "Presentation with 3 months of radiculopathy")
    assert (date.fromisoformat(pres["period"]["start"]) - date.fromisoformat(r["onsetDateTime"])).days in range(88, 93)


def test_B3_lasegue_weakness_achilles(b):
    las = list(b.all("Observation", "lasegue-sign"))
    assert {frozenset(ext_code(r["bodySite"], "laterality")) for r in las} == {frozenset({LEFT}), frozenset({RIGHT})}
    for r in las:
        assert (CIG, "positive") in value_code(r)
        q = r["component"][0]["valueQuantity"]
        assert (q["value"], q["system"], q["code"]) == (30, UCUM, "deg")
    for item in ("ankle-dorsiflexion", "ankle-plantar-flexion"):
        rs = b.coded("Observation", CIG, item)
        left = [r for r in rs if LEFT in ext_code(r["bodySite"], "laterality")]
        assert len(rs) == 2 and "Weaker on the left" in left[0]["note"][0]["text"]
    ach = b.one("Observation", CIG, "achilles-reflex")
    assert (CIG, "decreased") in value_code(ach) and BOTH in ext_code(ach["bodySite"], "laterality")


def test_B4_xray_stenosis_and_ossification(b):
    sten = b.one("Observation", CIG, "spinal-stenosis")
    assert b.levels(sten["bodySite"]) == {"L5", "S1"}
    oss = b.one("Observation", CIG, "vertebral-body-ossification")
    assert b.levels(oss["bodySite"]) == {"L3", "L4", "L5"}
    assert ("http://dicom.nema.org/resources/ontology/DCM", "DX") in codes(oss["method"])


def test_B5_mri_findings(b):
    intra = b.one("Observation", CIG, "intraspinal-calcinosis")
    assert b.levels(intra["bodySite"]) == {"L4", "L5"} and LEFT in ext_code(intra["bodySite"], "laterality")
    root = b.one("Observation", CIG, "nerve-root-compression")
    assert b.levels(root["bodySite"]) == {"L5"} and LEFT in ext_code(root["bodySite"], "laterality")
    b.one("Observation", CIG, "perineural-cyst")
    mass = b.one("Observation", CIG, "calcified-mass")
    assert b.levels(mass["bodySite"]) == {"S1"} and "dorsal to the S1" in mass["bodySite"]["text"]
    discs = b.coded("Observation", CIG, "disc-protrusion")
    assert {c for r in discs for c in codes(r["bodySite"])} == {(SCT, "122494005"), (SCT, "122495006"), (SCT, "122496007")}


def test_B6_left_l4_l5_laminectomy_with_excision(b):
    lam = b.one("Procedure", CIG, "decompressive-laminectomy")
    exc = b.one("Procedure", CIG, "excision-calcified-mass")
    for r in (lam, exc):
        assert b.levels(r["bodySite"][0]) == {"L4", "L5"} and LEFT in ext_code(r["bodySite"][0], "laterality")
        assert r["status"] == "completed"


def test_B7_histopathology_consistent_with_calcinosis(b):
    r = [x for x in b.coded("Observation", CIG, "histopathology") if (CIG, "calcium-deposits-on-collagen") in value_code(x)]
    assert len(r) == 1 and b.resolve(r[0]["partOf"][0])["code"]["coding"][0]["code"] == "excision-calcified-mass"


def test_B8_no_recurrence_at_6_months_and_5_years_methotrexate_continued(b):
    rec = b.coded("Observation", CIG, "calcinosis-recurrence")
    surgery_url, _ = encounter(b, "Admission for laminectomy")
    got = sorted(timing(b.resolve(r["encounter"])) for r in rec if (CIG, "absent") in value_code(r))
    assert got == [(surgery_url, 5, "a"), (surgery_url, 6, "mo")]
    rad = b.one("Condition", SCT, "128196005")
    assert has_code(rad["clinicalStatus"], "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved")
    mtx = b.one("MedicationStatement", "http://www.nlm.nih.gov/research/umls/rxnorm", "6851", path="medicationCodeableConcept")
    assert mtx["status"] == "active" and "continued" in mtx["note"][0]["text"]


def test_B9_normal_calcium_phosphorus_dystrophic(b):
    for code in ("17861-6", "2777-1"):
        r = b.one("Observation", LNC, code)
        assert (INTERP, "N") in codes(r["interpretation"])
    calc = b.one("Condition", CIG, "intraspinal-calcinosis", profile="calcinosis-condition")
    assert (CIG, "dystrophic") in ext_code(calc, "calcinosis-aetiology")


def test_lesion_followed_across_studies(b):
    (lesion,) = [r for r in b.all("BodyStructure") if r["identifier"][0]["value"] == "B-L1"]
    url = next(e["fullUrl"] for e in b.entries if e["resource"] is lesion)
    studies = sorted({b.resolve(r["encounter"])["type"][0]["text"] for r in b.all("Observation")
                      if {"reference": url} in r.get("focus", [])})
    assert studies == ["Admission for laminectomy", "Follow-up MRI 5 years after surgery",
                       "Follow-up MRI 6 months after surgery",
                       "Presentation with 3 months of radiculopathy (interval after diagnosis not reported)"]
