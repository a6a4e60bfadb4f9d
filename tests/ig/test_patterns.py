"""Guide 0.2 standard patterns and registry variables: HL7's own patterns where R4 core has
them, tool compatibility (fixed extension urls, an ImplementationGuide), registry profiles."""
from __future__ import annotations

import json
import tarfile

import pytest

from .conftest import PROFILES
from .helpers import CIG, SCT, Case, codes, ext, value_code

CANON = "http://fhirsvc.org/fhir/calcinosis"
SD = CANON + "/StructureDefinition/"
BODY_SITE = "http://hl7.org/fhir/StructureDefinition/bodySite"


def profiles(compiled):
    return [r for r in compiled.values() if r["resourceType"] == "StructureDefinition"]


def test_extension_slices_fix_their_url(compiled):
    """Every extension slice has a url child fixed to its type profile (the independent
    validator recognised slices only that way)."""
    missing = []
    for sd in profiles(compiled):
        els = {e["id"]: e for e in sd["snapshot"]["element"]}
        for e in sd["snapshot"]["element"]:
            last = e["id"].rsplit(".", 1)[-1]
            if not (last.startswith("extension:") or last.startswith("modifierExtension:")):
                continue
            prof = [p for t in e.get("type", []) for p in t.get("profile", [])]
            if not prof:
                continue                      # a complex extension's local sub-extension
            url = els.get(e["id"] + ".url", {})
            if url.get("fixedUri") != prof[0]:
                missing.append((sd["id"], e["id"]))
    assert not missing, missing[:10]


def test_lesions_use_core_bodysite_extension_and_location_qualifier(compiled, bundles, guide):
    assert SD + "lesion" not in compiled
    lesion_sd = compiled[SD + "calcinosis-lesion"]
    ids = {e["id"] for e in lesion_sd["snapshot"]["element"]}
    assert "BodyStructure.extension:laterality" not in ids
    (lq,) = [e for e in lesion_sd["snapshot"]["element"] if e["id"] == "BodyStructure.locationQualifier"]
    assert lq["binding"]["strength"] == "required"
    a = Case(bundles["case-a"], guide)
    cond = a.one("Condition", CIG, "paraspinal-calcinosis", profile="calcinosis-condition")
    (link,) = ext(cond["bodySite"][0], BODY_SITE)
    assert a.resolve(link["valueReference"])["resourceType"] == "BodyStructure"
    fingers = next(r for r in a.all("BodyStructure") if r["identifier"][0]["value"] == "A-L6")
    assert (SCT, "51440002") in codes(fingers["locationQualifier"])


def test_every_imaging_report_has_its_imaging_study_and_encounter(bundles, guide):
    for name in ("case-a", "case-b", "cohort"):
        c = Case(bundles[name], guide)
        for r in c.all("DiagnosticReport"):
            (img,) = [c.resolve(x) for x in r["imagingStudy"]]
            assert img["resourceType"] == "ImagingStudy" and img["procedureCode"][0] == r["code"]
            if name != "cohort":          # the cohort paper gives no encounters
                assert c.resolve(r["encounter"])["resourceType"] == "Encounter"
            for f in (c.resolve(x) for x in r["result"]):
                assert f["derivedFrom"] == [{"reference": next(e["fullUrl"] for e in c.entries
                                                                  if e["resource"] is img)}]


def test_follow_up_points_are_encounters_with_relative_timing(bundles, guide):
    got = {}
    for name in ("case-a", "case-b"):
        c = Case(bundles[name], guide)
        for r in c.all("Encounter"):
            for t in ext(r, "relative-timing"):
                parts = {x["url"]: x for x in t["extension"]}
                d = parts["offset"]["valueDuration"]
                got[(name, r["type"][0]["text"].split(" (")[0])] = (d["value"], d["code"])
    assert got == {("case-a", "One month after admission"): (1, "mo"), ("case-a", "Three months later"): (3, "mo"),
                   ("case-b", "Follow-up MRI 6 months after surgery"): (6, "mo"),
                   ("case-b", "Follow-up MRI 5 years after surgery"): (5, "a")}


def test_size_and_severity_are_observations(bundles, guide):
    a, b = Case(bundles["case-a"], guide), Case(bundles["case-b"], guide)
    sizes = {a.resolve(r["focus"][0])["identifier"][0]["value"]: next(iter(value_code(r)))[1]
             for r in a.all("Observation", "calcinosis-lesion-size")}
    assert sizes == {"A-L1": "massive", "A-L2": "massive"}
    (s1,) = b.all("Observation", "calcinosis-lesion-size")
    assert (CIG, "large") in value_code(s1) and b.resolve(s1["focus"][0])["identifier"][0]["value"] == "B-L2"
    assert [(SCT, "24484000") in value_code(r) for r in a.all("Observation", "calcinosis-severity")] == [True]


def test_mrc_grades_allow_modifiers(compiled):
    sd = compiled[SD + "muscle-strength"]
    (v,) = [e for e in sd["snapshot"]["element"] if e["id"] == "Observation.value[x]"]
    assert {t["code"] for t in v["type"]} == {"integer", "CodeableConcept"}
    grades = {c["display"] for i in compiled[CANON + "/ValueSet/mrc-grade"]["compose"]["include"] for c in i["concept"]}
    assert {"4-", "4", "4+"} <= grades


@pytest.fixture(scope="module")
def validator():
    from fhirsvc.validation import Validator  # a broken import fails: these tests never skip
    return Validator()


def test_a_coded_mrc_grade_4_plus_is_valid(validator):
    r = {"resourceType": "Observation", "meta": {"profile": [SD + "muscle-strength"]}, "status": "final",
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                   "code": "exam"}]}],
         "code": {"coding": [{"system": CIG, "code": "mrc-muscle-strength"}]},
         "subject": {"reference": "Patient/x"}, "effectiveDateTime": "2006-08-10",
         "valueCodeableConcept": {"coding": [{"system": CIG, "code": "mrc-4-plus", "display": "4+"}]},
         "bodySite": {"extension": [{"url": SD + "laterality", "valueCodeableConcept": {"coding": [
             {"system": SCT, "code": "7771000", "display": "Left"}]}}],
             "coding": [{"system": CIG, "code": "quadriceps"}]}}
    errors = [(i.expression, i.message) for i in validator.validate(r, strict=True)
              if i.severity in ("error", "fatal")]
    assert not errors, errors


def test_package_has_an_implementation_guide_with_its_examples(compiled):
    ig = compiled[CANON + "/ImplementationGuide/fhirsvc.calcinosis"]
    assert ig["packageId"] == "fhirsvc.calcinosis" and ig["version"] == "0.2.0" and ig["fhirVersion"] == ["4.0.1"]
    listed = {x["reference"]["reference"] for x in ig["definition"]["resource"]}
    for r in compiled.values():
        if r["resourceType"] != "ImplementationGuide":
            assert f"{r['resourceType']}/{r['id']}" in listed
    examples = {x["reference"]["reference"]: x["exampleCanonical"] for x in ig["definition"]["resource"]
                if "exampleCanonical" in x}
    assert examples == {f"Bundle/{n}": SD + "calcinosis-case-bundle" for n in ("case-a", "case-b", "cohort")}
    with tarfile.open(PROFILES / "package.tgz") as tf:
        index = json.load(tf.extractfile("package/example/.index.json"))
        assert {f["filename"] for f in index["files"]} == {f"Bundle-{n}.json" for n in ("case-a", "case-b", "cohort")}
        assert "package/ImplementationGuide-fhirsvc.calcinosis.json" in tf.getnames()


# ------------------------------------------------------------ registry variables
def test_registry_profiles_and_search_parameters(compiled, guide):
    mrss = compiled[SD + "mrss"]
    els = {e["id"]: e for e in mrss["snapshot"]["element"]}
    assert any(e.get("maxValueInteger") == 51 for i, e in els.items() if i.startswith("Observation.value"))
    assert any(e.get("maxValueInteger") == 3 for i, e in els.items() if i.startswith("Observation.component"))
    sites = compiled[CANON + "/ValueSet/mrss-site"]["compose"]["include"][0]["concept"]
    assert len(sites) == 17
    for url in ("digital-ulcer-status", "ild-extent", "ssc-classification", "calcinosis-encounter",
                "calcinosis-imaging-study", "calcinosis-lesion-size", "calcinosis-severity"):
        assert SD + url in compiled, url
    params = {p["code"]: p for p in guide["searchParameters"]}
    assert params["score"]["type"] == "number" and "Observation" in params["score"]["base"]
    assert params["sensory-level"]["type"] == "token" and params["relative-to"]["type"] == "reference"
    assert "bodySite" in params["lesion"]["expression"] and "locationQualifier" in params["laterality"]["expression"]


def test_cohort_carries_the_registry_variables(bundles, guide):
    c = Case(bundles["cohort"], guide)
    mrss = list(c.all("Observation", "mrss"))
    assert len(mrss) == 41
    for r in mrss:
        assert len(r["component"]) == 17 and r["valueInteger"] == sum(x["valueInteger"] for x in r["component"])
        assert all(0 <= x["valueInteger"] <= 3 for x in r["component"])
    assert len(list(c.all("Observation", "ild-extent"))) == 41
    du_ever = {r["subject"]["reference"] for r in c.all("Observation", "digital-ulcer-status")
               if (CIG, "present") in value_code(r)}
    du_cond = {r["subject"]["reference"] for r in c.coded("Condition", CIG, "digital-ulcer")}
    assert du_ever == du_cond and du_cond


def test_classification_examples_are_the_computed_ones(bundles, guide):
    from fhirsvc.analytics import ssc_classification
    for name, total, verdict in (("case-a", 12, "ssc-classified"), ("case-b", 0, "ssc-insufficient-data")):
        c = Case(bundles[name], guide)
        (stored,) = c.all("Observation", "ssc-classification")
        assert stored["valueInteger"] == total and (CIG, verdict) in codes(stored["interpretation"])
        others = [{**e["resource"], "_url": e["fullUrl"]} for e in c.entries if e["resource"] is not stored]
        again = ssc_classification(others, effective=stored["effectiveDateTime"], reference_of=lambda r: r["_url"])
        for k in ("valueInteger", "interpretation", "component", "derivedFrom", "extension"):
            assert again.get(k) == stored.get(k), (name, k)
