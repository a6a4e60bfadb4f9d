"""Failure classes measured on the reference validator's cases (issue 15), one test each beside
the rule that handles it: unknown extensions, Coding.system, urn:uuid, supplements."""
from __future__ import annotations

import pytest

from fhirsvc.definitions.registry import Registry
from fhirsvc.validation import Validator


@pytest.fixture(scope="module")
def v():
    reg = Registry()
    reg.add({"resourceType": "CodeSystem", "url": "http://x/cs/supp", "status": "active",
             "content": "supplement", "supplements": "http://loinc.org",
             "concept": [{"code": "a"}]})
    return Validator(registry=reg)


def errors(issues):
    return [(i.expression[0] if i.expression else None, i.message) for i in issues
            if i.severity in ("error", "fatal")]


def patient(**kw):
    return dict({"resourceType": "Patient"}, **kw)


def test_unknown_extension_is_an_error_outside_example_and_hl7_spaces(v):
    got = errors(v.validate(patient(extension=[{"url": "https://other.org/ext", "valueString": "x"}])))
    assert got == [("Patient.extension[0]",
                    "The extension https://other.org/ext could not be found so is not allowed here")]
    for url in ("http://example.org/ext", "http://hl7.org/fhir/5.0/StructureDefinition/extension-X"):
        issues = v.validate(patient(extension=[{"url": url, "valueString": "x"}]))
        assert errors(issues) == []
        assert any(i.severity == "warning" and "Unknown extension" in i.message for i in issues)


def test_unknown_extension_on_a_primitive(v):
    r = patient(birthDate="1970-01-01",
                _birthDate={"extension": [{"url": "http://other.org/age", "valueInteger": 3}]})
    assert errors(v.validate(r)) == [("Patient.birthDate.extension[0]", "The extension "
                                      "http://other.org/age could not be found so is not allowed here")]


def obs(system):
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": system, "code": "a"}]}}


def test_coding_system_must_be_absolute_and_a_code_system(v):
    assert errors(v.validate(obs("loinc"))) == [
        ("Observation.code.coding[0].system",
         "Coding.system must be an absolute reference, not a local reference ('loinc')")]
    assert errors(v.validate(obs("http://hl7.org/fhir/ValueSet/observation-status"))) == [
        ("Observation.code.coding[0].system", "The Coding references a value set, not a code "
         "system ('http://hl7.org/fhir/ValueSet/observation-status')")]
    assert errors(v.validate(obs("http://x/cs/supp"))) == [
        ("Observation.code.coding[0].system", "CodeSystem http://x/cs/supp is a supplement, so "
         "can't be used as a value in Coding.system")]
    assert errors(v.validate(obs("http://unknown.org/cs"))) == []


def test_urn_uuid_must_be_valid_and_lowercase(v):
    ok = "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"
    assert errors(v.validate(patient(implicitRules=ok))) == []
    for bad in (ok.upper().replace("URN:UUID:", "urn:uuid:"), ok + "x"):
        got = errors(v.validate(patient(implicitRules=bad)))
        assert len(got) == 1 and "UUIDs must be valid and lowercase" in got[0][1], got
