"""Failure classes of the extended reference cases (issue 15, second pass), one test each:
versioned and url-less extensions, THO codes the R4 package's copy lacks, additional
bindings."""
from __future__ import annotations

import pytest

from fhirsvc.definitions.registry import Registry
from fhirsvc.validation import Validator


def errors(issues):
    return [(i.expression[0] if i.expression else None, i.message) for i in issues
            if i.severity in ("error", "fatal")]


def warnings(issues):
    return [(i.expression[0] if i.expression else None, i.message) for i in issues
            if i.severity == "warning"]


@pytest.fixture(scope="module")
def v():
    return Validator()


def test_extension_url_with_a_version_is_an_error(v):
    r = {"resourceType": "Patient", "extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/patient-congregation|4.0.1",
        "valueString": "x"}]}
    got = errors(v.validate(r))
    assert any(w == "Patient.extension[0]" and m.startswith("The extension URL must not contain "
                                                          "a version") for w, m in got)
    r["extension"][0]["url"] = "http://hl7.org/fhir/StructureDefinition/patient-congregation"
    assert errors(v.validate(r)) == []


def test_extension_without_url(v):
    got = errors(v.validate({"resourceType": "Patient", "extension": [{"valueString": "x"}]}))
    assert ("Patient.extension[0]", "Extension.url is required in order to identify, use and "
            "validate the extension") in got
    assert len(got) == 2  # and the cardinality of Extension.url


def test_unknown_code_of_a_tho_code_system_from_the_core_package_is_a_warning(v):
    r = {"resourceType": "Patient", "identifier": [{"type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NNFIN"}]},
        "value": "1"}]}
    issues = v.validate(r)
    assert errors(issues) == []
    assert any(m.startswith("Unknown code 'NNFIN'") for _, m in warnings(issues))
    # a FHIR code system of the package stays complete: an unknown code is an error
    bad = {"resourceType": "Patient", "gender": "female", "contact": [{"relationship": [{
        "coding": [{"system": "http://hl7.org/fhir/resource-types", "code": "Nope"}]}]}]}
    assert any("Unknown code 'Nope'" in m for _, m in errors(v.validate(bad)))


def test_tho_code_system_loaded_at_run_time_is_complete():
    reg = Registry()
    reg.add({"resourceType": "CodeSystem", "url": "http://terminology.hl7.org/CodeSystem/x-new",
             "status": "active", "content": "complete", "concept": [{"code": "a"}]})
    r = {"resourceType": "Observation", "status": "final", "code": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/x-new", "code": "b"}]}}
    assert any("Unknown code 'b'" in m for _, m in errors(Validator(registry=reg).validate(r)))


def _additional(purpose, usage=False):
    parts = [{"url": "purpose", "valueCode": purpose},
             {"url": "valueSet", "valueCanonical": "http://x.org/vs/ab"}]
    if usage:
        parts.append({"url": "usage", "valueUsageContext": {
            "code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                     "code": "focus"}, "valueCodeableConcept": {"text": "x"}}})
    return {"resourceType": "StructureDefinition", "url": f"http://x.org/sd/ab-{purpose}{usage}",
            "name": "AB", "status": "active", "kind": "resource", "abstract": False,
            "type": "Observation", "derivation": "constraint",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
            "differential": {"element": [{"id": "Observation.code", "path": "Observation.code",
                                          "binding": {"strength": "example", "valueSet":
                                                      "http://hl7.org/fhir/ValueSet/observation-codes",
                                                      "extension": [{
                "url": "http://hl7.org/fhir/tools/StructureDefinition/additional-binding",
                "extension": parts}]}}]}}


@pytest.fixture(scope="module")
def ab():
    reg = Registry()
    reg.add({"resourceType": "ValueSet", "url": "http://x.org/vs/ab", "version": "1.0.0",
             "title": "AB set", "status": "active", "compose": {"include": [
                 {"system": "http://loinc.org", "concept": [{"code": "1-8"}]}]}})
    for purpose in ("required", "extensible", "maximum", "preferred"):
        reg.add(_additional(purpose))
    reg.add(_additional("required", usage=True))
    return Validator(registry=reg)


def obs(*codes):
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": c} for c in codes]}}


def test_additional_binding_required(ab):
    url = "http://x.org/sd/ab-requiredFalse"
    assert errors(ab.validate(obs("1-8"), [url])) == []
    assert errors(ab.validate(obs("2-6"), [url])) == [(
        "Observation.code", "None of the codings provided are in the value set 'AB set' "
        "(http://x.org/vs/ab|1.0.0) specified in an additional binding, and a coding from this "
        "value set is required (codes = http://loinc.org#2-6)")]


def test_additional_binding_other_purposes(ab):
    assert errors(ab.validate(obs("2-6"), ["http://x.org/sd/ab-extensibleFalse"])) == []
    assert any("additional binding" in m for _, m in
               warnings(ab.validate(obs("2-6"), ["http://x.org/sd/ab-extensibleFalse"])))
    assert errors(ab.validate(obs("1-8", "2-6"), ["http://x.org/sd/ab-maximumFalse"]))
    assert errors(ab.validate(obs("1-8"), ["http://x.org/sd/ab-maximumFalse"])) == []
    assert errors(ab.validate(obs("2-6"), ["http://x.org/sd/ab-preferredFalse"])) == []
    # with a usage context it applies only where that context holds
    assert errors(ab.validate(obs("2-6"), ["http://x.org/sd/ab-requiredTrue"])) == []
