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


def test_unknown_code_of_a_v2_table_from_the_core_package_is_a_warning(v):
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


def test_snomed_code_that_is_not_an_identifier(v):
    def sct(code):
        return {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}
    assert errors(v.validate(sct("276885007"))) == []
    assert errors(v.validate(sct("276885007x"))) == [(
        "Condition.code.coding[0].code", "Unknown code '276885007x' in the CodeSystem "
        "'http://snomed.info/sct' (not a valid SNOMED CT concept identifier)")]
    # a wrong check digit: certain, but a warning (the reference says nothing offline)
    issues = v.validate(sct("276885008"))
    assert errors(issues) == [] and any("check digit" in m for _, m in warnings(issues))
    # post-coordinated expressions are not judged
    assert errors(v.validate(sct("397956004:363704007=24028007"))) == []


def test_snomed_identifier_syntax():
    from fhirsvc.validation.rules import snomed
    assert snomed.is_concept_id("1142143009") and snomed.is_concept_id("56248011000036107")
    assert not snomed.is_concept_id("2342342123")  # a relationship id (partition 12)
    assert not snomed.is_concept_id("276885008")  # check digit
    assert snomed.bad_code("abc") == "syntax" and snomed.bad_code("276885008") == "check"


def _vs(system, *filters):
    return {"resourceType": "ValueSet", "url": "http://x.org/vs/f", "status": "active",
            "compose": {"include": [{"system": system, "filter": [
                {"property": p, "op": o, "value": val} for p, o, val in filters]}]}}


def test_valueset_filters_on_snomed(v):
    sct = "http://snomed.info/sct"
    assert errors(v.validate(_vs(sct, ("concept", "is-a", "404684003"),
                                 ("1142143009", "=", "734137005")))) == []
    got = errors(v.validate(_vs(sct, ("concept", "is-a", "something"),
                                ("1142143009", "not-in", "734137005"),
                                ("2342342123", "not-in", "734137005"))))
    assert [w for w, _ in got] == ["ValueSet.compose.include[0].filter[0]",
                                   "ValueSet.compose.include[0].filter[1]"]
    assert "Allowed ops: =,in" in got[1][1]


def test_valueset_filter_on_a_generic_boolean_property(v):
    tooth = "http://terminology.hl7.org/CodeSystem/ex-tooth"
    assert errors(v.validate(_vs(tooth, ("notSelectable", "=", "true")))) == []
    assert errors(v.validate(_vs(tooth, ("notSelectable", "=", "1")))) == [(
        "ValueSet.compose.include[0].filter[0]", "The value for a filter based on property "
        "'notSelectable' must be either 'true' or 'false', not '1'")]


def test_display_of_a_fhir_code_system(v):
    def pat(display):
        return {"resourceType": "Patient", "contact": [{"relationship": [{"coding": [{
            "system": "http://hl7.org/fhir/administrative-gender", "code": "male",
            "display": display}]}], "name": {"text": "x"}}]}
    assert errors(v.validate(pat("Male"))) == []
    assert errors(v.validate(pat("  male "))) == []  # case and whitespace aside
    assert errors(v.validate(pat("Australia"))) == [(
        "Patient.contact[0].relationship[0].coding[0].display",
        "Wrong Display Name 'Australia' for http://hl7.org/fhir/administrative-gender#male. "
        "Valid display is 'Male' (for the language(s) '--')")]


def test_display_of_a_tho_code_system_is_a_warning(v):
    r = {"resourceType": "Patient", "identifier": [{"type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
        "display": "Something else"}]}, "value": "1"}]}
    issues = v.validate(r)
    assert errors(issues) == []
    assert any(m.startswith("Wrong Display Name 'Something else'") for _, m in warnings(issues))


def test_json_commas_repaired_and_reported(v):
    text = ('{"resourceType": "Patient", "name": [{"family": "A", "given": ["B",]}],\n'
            ' "address": [{"city": "C"\n "country": "AU",}]}')
    got = [(i.severity, i.message.split(" (line")[0]) for i in v.validate_bytes(text.encode())
           if i.severity == "error"]
    assert got == [("error", "There is an extra comma at the end of the Array in the JSON"),
                   ("error", "A Comma is missing in the JSON"),
                   ("error", "There is an extra comma at the end of the Object in the JSON")]
    # the rest is validated as usual
    bad = text.replace('"family": "A"', '"family": 3')
    assert any("family" in (i.expression[0] if i.expression else "")
               for i in v.validate_bytes(bad.encode()))


def test_json_values_side_by_side_in_an_array_stay_a_syntax_error(v):
    issues = v.validate_bytes(b'{"resourceType": "Patient", "name": [{"given": ["A" "B"]}]}')
    assert [i.severity for i in issues if i.severity != "warning"] == ["fatal"]
    # commas inside strings are text
    assert errors(v.validate_bytes(b'{"resourceType": "Patient", "name": [{"text": "a,]"}]}')) == []


def _sp(expression, base):
    return {"resourceType": "SearchParameter", "url": "http://x.org/sp/n", "name": "n",
            "status": "active", "description": "n", "code": "n", "base": base, "type": "string",
            "expression": expression}


def test_search_expression_branches_start_with_a_base(v):
    assert errors(v.validate(_sp("Patient.name | Practitioner.name",
                                 ["Patient", "Practitioner"]))) == []
    assert errors(v.validate(_sp("(Observation.value as Quantity)", ["Observation"]))) == []
    assert errors(v.validate(_sp("name.where(use = 'x|y')", ["Patient"]))) == []
    got = errors(v.validate(_sp("Organization.name | Organization.alias", ["Patient"])))
    assert got == [("SearchParameter.expression", "Error in search expression "
                    "'Organization.name | Organization.alias': Error evaluating FHIRPath "
                    "expression: The name 'Organization' is not valid for any of the possible "
                    "types: [http://hl7.org/fhir/StructureDefinition/Patient]")]


def _bundle_profile_registry(target_profile):
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x.org/sd/org",
             "name": "Org", "status": "active", "kind": "resource", "abstract": False,
             "type": "Organization", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Organization",
             "differential": {"element": [
                 {"id": "Organization", "path": "Organization", "constraint": [{
                     "key": "x-1", "severity": "error", "human": "partOf is one of the endpoints",
                     "expression": "partOf.reference.subsetOf(%resource.endpoint.reference)"}]},
                 {"id": "Organization.endpoint", "path": "Organization.endpoint", "type": [
                     {"code": "Reference", "targetProfile": [target_profile]}]}]}})
    reg.add({"resourceType": "StructureDefinition", "url": "http://x.org/sd/bundle",
             "name": "B", "status": "active", "kind": "resource", "abstract": False,
             "type": "Bundle", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Bundle",
             "differential": {"element": [
                 {"id": "Bundle.entry.resource", "path": "Bundle.entry.resource",
                  "type": [{"code": "Organization", "profile": ["http://x.org/sd/org"]}]}]}})
    return Validator(registry=reg)


BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"fullUrl": "http://x.org/fhir/Organization/o", "resource": {
        "resourceType": "Organization", "id": "o", "name": "o",
        "partOf": {"reference": "Endpoint/e"}, "endpoint": [{"reference": "Endpoint/e"}]}},
    {"fullUrl": "http://x.org/fhir/Endpoint/e", "resource": {
        "resourceType": "Endpoint", "id": "e", "status": "active", "address": "http://x.org",
        "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                           "code": "hl7-fhir-rest"},
        "payloadType": [{"text": "x"}]}}]}


def test_resource_constraint_of_a_bundle_profile_sees_the_entry_as_resource():
    import copy
    v = _bundle_profile_registry("http://hl7.org/fhir/StructureDefinition/Endpoint")
    got = [m for _, m in errors(v.validate(copy.deepcopy(BUNDLE), ["http://x.org/sd/bundle"]))]
    assert not any("x-1" in m for m in got), got


def test_resolved_target_with_only_unknown_target_profiles():
    import copy
    v = _bundle_profile_registry("http://x.org/sd/unknown-endpoint")
    got = errors(v.validate(copy.deepcopy(BUNDLE), ["http://x.org/sd/bundle"]))
    assert ("Bundle.entry[0].resource.endpoint[0]",
            "Unable to resolve the profile reference 'http://x.org/sd/unknown-endpoint'") in got
    assert ("Bundle.entry[0].resource.endpoint[0]",
            "Invalid Resource target type. Found Endpoint, but expected one of ([])") in got
