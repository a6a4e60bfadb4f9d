"""One test (at least) per rule of the rule table: a resource that trips exactly that rule, and
the exact issue it gives (severity, code, location, the words of the message that matter).
`test_every_rule_is_tested` keeps the table and these tests together."""
from __future__ import annotations

import copy

import pytest

from fhirsvc.definitions.registry import Registry
from fhirsvc.validation import Validator
from fhirsvc.validation.rules import RULES

CORE = "http://hl7.org/fhir/StructureDefinition/"
X = "http://x/sd/"
TESTED: set[str] = set()


def covers(aspect):
    def mark(fn):
        TESTED.add(aspect)
        return fn
    return mark


def test_every_rule_is_tested():
    assert {r.aspect for r in RULES} == TESTED


def profile(url, rtype, elements, base=None):
    return {"resourceType": "StructureDefinition", "url": X + url, "type": rtype,
            "kind": "resource", "derivation": "constraint", "baseDefinition": base or CORE + rtype,
            "differential": {"element": elements}}


PROFILES = [
    profile("one-name", "Patient", [{"path": "Patient.name", "max": "1"}]),
    profile("fixed", "Patient", [{"path": "Patient.gender", "fixedCode": "female"}]),
    profile("pattern", "Observation", [{"path": "Observation.code", "patternCodeableConcept": {
        "coding": [{"system": "http://loinc.org", "code": "1-8"}]}}]),
    profile("min-date", "Patient", [{"path": "Patient.birthDate", "minValueDate": "2000-01-01"}]),
    profile("max-length", "Patient", [{"path": "Patient.name.family", "maxLength": 2}]),
    profile("mrn", "Patient", [
        {"id": "Patient.identifier", "path": "Patient.identifier", "slicing": {
            "discriminator": [{"type": "value", "path": "system"}], "rules": "closed"}},
        {"id": "Patient.identifier:mrn", "path": "Patient.identifier", "sliceName": "mrn",
         "min": 1, "max": "1"},
        {"id": "Patient.identifier:mrn.system", "path": "Patient.identifier.system",
         "fixedUri": "http://hospital/mrn"},
        {"id": "Patient.identifier:mrn.value", "path": "Patient.identifier.value", "min": 1}]),
    profile("female-patient", "Patient", [{"path": "Patient.gender", "min": 1,
                                           "fixedCode": "female"}]),
    profile("one-female", "Bundle", [
        {"id": "Bundle.entry", "path": "Bundle.entry", "slicing": {
            "discriminator": [{"type": "profile", "path": "resource"}], "rules": "open"}},
        {"id": "Bundle.entry:female", "path": "Bundle.entry", "sliceName": "female", "min": 1},
        {"id": "Bundle.entry:female.resource", "path": "Bundle.entry.resource",
         "type": [{"code": "Patient", "profile": [X + "female-patient"]}]}]),
    profile("patients-only", "Bundle", [
        {"path": "Bundle.entry.resource", "type": [{"code": "Patient"}]}]),
    profile("bad-constraint", "Patient", [{"path": "Patient", "constraint": [
        {"key": "x-1", "severity": "error", "human": "cannot compile",
         "expression": "name.where(("}]}]),
    profile("short-family", "Patient", [{"path": "Patient.name.family", "constraint": [
        {"key": "x-2", "severity": "error", "human": "A family name of 5 characters at most",
         "expression": "$this.length() <= 5"}]}]),
    profile("conforms-to-fixed", "Patient", [{"path": "Patient", "constraint": [
        {"key": "x-3", "severity": "error", "human": "Conforms to the fixed-gender profile",
         "expression": "conformsTo('http://x/sd/fixed')"}]}]),
    # differential element that matches nothing: its snapshot cannot be generated
    profile("broken", "Patient", [{"path": "Patient.nonsense", "min": 1}]),
    profile("uses-broken", "Observation", [{"path": "Observation.subject", "type": [
        {"code": "Reference", "targetProfile": [CORE + "Patient"]}]}, {
        "path": "Observation.specimen", "type": [{"code": "Reference"}]}]),
    {"resourceType": "StructureDefinition", "url": X + "broken-ext", "type": "Extension",
     "kind": "complex-type", "derivation": "constraint", "baseDefinition": CORE + "Extension",
     "context": [{"type": "element", "expression": "Patient"}],
     "differential": {"element": [{"path": "Extension.nonsense", "min": 1}]}},
    {"resourceType": "StructureDefinition", "url": X + "code-with-broken-profile",
     "type": "Observation", "kind": "resource", "derivation": "constraint",
     "baseDefinition": CORE + "Observation", "differential": {"element": [
         {"path": "Observation.code", "type": [{"code": "CodeableConcept",
                                                 "profile": [X + "broken-cc"]}]}]}},
    {"resourceType": "StructureDefinition", "url": X + "broken-cc", "type": "CodeableConcept",
     "kind": "complex-type", "derivation": "constraint",
     "baseDefinition": CORE + "CodeableConcept",
     "differential": {"element": [{"path": "CodeableConcept.nonsense", "min": 1}]}},
]


@pytest.fixture(scope="module")
def v():
    reg = Registry()
    reg.add_all(PROFILES)
    return Validator(registry=reg)


def found(issues, *severities):
    """(severity, code, location, message) of the issues of the given severities."""
    sev = severities or ("fatal", "error")
    return [(i.severity, i.code, i.expression[0] if i.expression else None, i.message)
            for i in issues if i.severity in sev]


def exactly(issues, severity, code, location, *words, severities=None):
    """The only issue (of the severities looked at) is this one."""
    got = found(issues, *(severities or ("fatal", "error")))
    assert len(got) == 1, got
    s, c, loc, msg = got[0]
    assert (s, c, loc) == (severity, code, location), got[0]
    for w in words:
        assert w in msg, (w, msg)


NARRATIVE = {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}
PATIENT = {"resourceType": "Patient", "id": "p1", "text": NARRATIVE,
           "name": [{"family": "Doe"}], "birthDate": "1970-05-01"}
OBS = {"resourceType": "Observation", "text": NARRATIVE, "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
       "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-02T09:30:10+01:00",
       "valueQuantity": {"value": 44, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                         "code": "mg/dL"}}


def with_(base, **kw):
    r = copy.deepcopy(base)
    r.update(kw)
    return r


def test_neighbours_are_clean(v):
    assert found(v.validate(PATIENT), "fatal", "error", "warning") == []
    assert found(v.validate(OBS), "fatal", "error", "warning") == []


# ---- cardinality
@covers("cardinality")
def test_cardinality_min(v):
    r = copy.deepcopy(OBS)
    del r["status"]
    exactly(v.validate(r), "error", "required", "Observation",
            "Observation.status: minimum required = 1, but only found 0")


@covers("cardinality")
def test_cardinality_max_in_profile(v):
    r = with_(PATIENT, name=[{"family": "A"}, {"family": "B"}])
    exactly(v.validate(r, [X + "one-name"]), "error", "structure", "Patient",
            "Patient.name: max allowed = 1, but found 2")
    assert found(v.validate(PATIENT, [X + "one-name"])) == []


@covers("cardinality")
def test_cardinality_one_choice(v):
    r = with_(OBS, valueString="high")
    exactly(v.validate(r), "error", "structure", "Observation",
            "Only one choice of value[x] is allowed", "valueQuantity", "valueString")


# ---- slicing
@covers("slicing")
def test_slicing_required_slice_missing(v):
    exactly(v.validate(PATIENT, [X + "mrn"]), "error", "structure", "Patient",
            "Slice 'Patient.identifier:mrn': a matching slice is required, but not found")


@covers("slicing")
def test_slicing_closed(v):
    r = with_(PATIENT, identifier=[{"system": "http://hospital/mrn", "value": "1"},
                                   {"system": "http://other", "value": "2"}])
    exactly(v.validate(r, [X + "mrn"]), "error", "structure", "Patient.identifier[1]",
            "does not match any known slice", "is closed")


@covers("slicing")
def test_slicing_slice_max(v):
    r = with_(PATIENT, identifier=[{"system": "http://hospital/mrn", "value": "1"},
                                   {"system": "http://hospital/mrn", "value": "2"}])
    exactly(v.validate(r, [X + "mrn"]), "error", "structure", "Patient",
            "Patient.identifier:mrn: max allowed = 1, but found 2")


@covers("slicing")
def test_slicing_matched_value_walked_with_its_slice(v):
    # the slice makes identifier.value required: the walker descends with the slice
    r = with_(PATIENT, identifier=[{"system": "http://hospital/mrn"}])
    exactly(v.validate(r, [X + "mrn"]), "error", "required", "Patient.identifier[0]",
            "Patient.identifier.value: minimum required = 1")


@covers("slicing")
def test_slicing_profile_discriminator(v):
    female = with_(PATIENT, gender="female")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": female}]}
    assert found(v.validate(bundle, [X + "one-female"])) == []
    bundle["entry"][0]["resource"] = with_(PATIENT, gender="male")
    exactly(v.validate(bundle, [X + "one-female"]), "error", "structure", "Bundle",
            "Slice 'Bundle.entry:female': a matching slice is required")


# ---- type
@covers("type")
def test_type_primitive_format(v):
    exactly(v.validate(with_(PATIENT, birthDate="1970-02-30")), "error", "invalid",
            "Patient.birthDate", "Not a valid date format: '1970-02-30'")


@covers("type")
def test_type_malformed_value_checked_no_further(v):
    # not a valid code: no binding error on top (STOP)
    exactly(v.validate(with_(PATIENT, gender=" male")), "error", "invalid", "Patient.gender",
            "The code ' male' is not valid")


@covers("type")
def test_type_object_expected(v):
    exactly(v.validate(with_(PATIENT, maritalStatus="married")), "error", "structure",
            "Patient.maritalStatus", "must be an Object, not a primitive")


@covers("type")
def test_type_primitive_expected(v):
    exactly(v.validate(with_(PATIENT, gender={"code": "male"})), "error", "structure",
            "Patient.gender", "must be a JSON primitive (code), not an Object")


@covers("type")
def test_type_resource_id(v):
    exactly(v.validate(with_(PATIENT, id="bad_id")), "error", "invalid", "Patient.id",
            "Invalid Resource id", "bad_id")


@covers("type")
def test_type_resource_type_allowed(v):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": OBS}]}
    exactly(v.validate(bundle, [X + "patients-only"]), "error", "structure",
            "Bundle.entry[0].resource", "The type 'Observation' is not allowed here",
            "allowed: Patient")


@covers("type")
def test_type_profile_that_cannot_be_used(v):
    exactly(v.validate(OBS, [X + "code-with-broken-profile"]), "error", "invalid",
            "Observation.code", X + "broken-cc", "snapshot cannot be generated",
            "CodeableConcept.nonsense")


# ---- fixed, pattern, min/max, maxLength
@covers("fixed")
def test_fixed(v):
    exactly(v.validate(with_(PATIENT, gender="male"), [X + "fixed"]), "error", "value",
            "Patient.gender", "Value is 'male' but must be 'female'")
    assert found(v.validate(with_(PATIENT, gender="female"), [X + "fixed"])) == []


@covers("pattern")
def test_pattern(v):
    exactly(v.validate(OBS, [X + "pattern"]), "error", "value", "Observation.code",
            "does not match the pattern required by the profile", "1-8")


@covers("minValue/maxValue")
def test_min_value(v):
    exactly(v.validate(PATIENT, [X + "min-date"]), "error", "invalid", "Patient.birthDate",
            "less than the permitted minimum value", "2000-01-01")


@covers("maxLength")
def test_max_length(v):
    exactly(v.validate(PATIENT, [X + "max-length"]), "error", "too-long",
            "Patient.name[0].family", "exceeds the allowed length 2")


# ---- terminology
@covers("binding")
def test_binding_required(v):
    exactly(v.validate(with_(PATIENT, gender="yes")), "error", "code-invalid", "Patient.gender",
            "('yes') was not found in the value set",
            "http://hl7.org/fhir/ValueSet/administrative-gender")


@covers("binding")
def test_binding_extensible_is_a_warning(v):
    r = with_(PATIENT, maritalStatus={"coding": [{"system": "http://example.org/ms",
                                                  "code": "x"}]})
    assert found(v.validate(r)) == []
    exactly(v.validate(r), "warning", "code-invalid", "Patient.maritalStatus",
            "http://example.org/ms#x", "was not found in the value set",
            severities=("warning",))


@covers("code system")
def test_code_system(v):
    r = with_(PATIENT, maritalStatus={"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "ZZZ"}]})
    # one error: the binding does not report it a second time
    exactly(v.validate(r), "error", "code-invalid", "Patient.maritalStatus.coding[0].code",
            "Unknown code 'ZZZ'", "v3-MaritalStatus")


# ---- references
@covers("reference")
def test_reference_format(v):
    exactly(v.validate(with_(OBS, subject={"reference": "patient/1"})), "error", "invalid",
            "Observation.subject.reference", "Invalid reference 'patient/1'")


@covers("reference")
def test_reference_target_type_in_bundle(v):
    org = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
    b = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": org, "resource": {"resourceType": "Organization", "name": "x",
                                      "text": NARRATIVE},
         "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:1c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
         "resource": with_(OBS, subject={"reference": org}),
         "request": {"method": "POST", "url": "Observation"}}]}
    exactly(v.validate(b), "error", "structure", "Bundle.entry[1].resource.subject.reference",
            "The type 'Organization' is not valid for this reference", "Patient")


@covers("reference")
def test_reference_contained_missing(v):
    got = found(v.validate(with_(OBS, subject={"reference": "#nope"})))
    # the reference rule and the ref-1 invariant both see it
    assert ("error", "structure", "Observation.subject.reference",
            "The contained resource '#nope' is not found in the resource") in got
    assert any(c == "invariant" and "ref-1" in m for _, c, _, m in got)


# ---- extensions
@covers("extension")
def test_extension_unknown_is_a_warning(v):
    r = with_(PATIENT, extension=[{"url": "http://example.org/x", "valueString": "a"}])
    assert found(v.validate(r)) == []
    exactly(v.validate(r), "warning", "extension", "Patient.extension[0]",
            "Unknown extension http://example.org/x", severities=("warning",))


@covers("extension")
def test_extension_context(v):
    r = with_(OBS, extension=[{"url": CORE + "patient-birthPlace",
                               "valueAddress": {"city": "Paris"}}])
    exactly(v.validate(r), "warning", "extension", "Observation.extension[0]",
            "patient-birthPlace is not allowed to be used at this point", "Patient",
            severities=("warning",))


@covers("extension")
def test_extension_walked_with_its_definition(v):
    r = with_(PATIENT, extension=[{"url": CORE + "patient-birthPlace", "valueString": "Paris"}])
    exactly(v.validate(r), "error", "structure", "Patient.extension[0].valueString",
            "The type String is not allowed for Extension.value[x]", "Address")


@covers("extension")
def test_extension_definition_that_cannot_be_used(v):
    r = with_(PATIENT, extension=[{"url": X + "broken-ext", "valueString": "a"}])
    exactly(v.validate(r), "error", "invalid", "Patient.extension[0]", X + "broken-ext",
            "snapshot cannot be generated", "Extension.nonsense")


# ---- narrative, bundle
@covers("narrative")
def test_narrative_script(v):
    div = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>"
    exactly(v.validate(with_(PATIENT, text={"status": "generated", "div": div})), "error",
            "invalid", "Patient.text.div", "script")


@covers("bundle")
def test_bundle_duplicate_full_url(v):
    e = {"fullUrl": "http://x/Patient/p1", "resource": PATIENT}
    b = {"resourceType": "Bundle", "type": "collection", "entry": [e, e]}
    got = found(v.validate(b))
    # the bundle rule, and the core invariant bdl-7 (as the reference validator reports)
    assert len(got) == 2 and ("error", "duplicate", "Bundle.entry[1]",
                              "Duplicate fullUrl 'http://x/Patient/p1' (also in entry 0)") in got
    assert [m for _, c, _, m in got if c == "invariant"][0].startswith("Constraint failed: bdl-7")


@covers("bundle")
def test_bundle_full_url_relative(v):
    b = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "Patient/p1", "resource": PATIENT}]}
    exactly(v.validate(b), "error", "invalid", "Bundle.entry[0]",
            "The fullUrl must be an absolute URL", "Patient/p1")


# ---- invariants
@covers("constraint")
def test_constraint_fhirpath(v):
    r = {"resourceType": "RiskAssessment", "text": NARRATIVE, "status": "final",
         "subject": {"reference": "Patient/p"}, "prediction": [{"probabilityDecimal": 120}]}
    issues = v.validate(r)
    exactly(issues, "error", "invariant", "RiskAssessment.prediction[0]", "ras-2",
            "Must be <= 100")
    bad = [i for i in issues if i.is_error][0]
    assert bad.source.startswith("ras-2|") and bad.diagnostics  # the expression


@covers("constraint")
def test_constraint_on_a_primitive_element(v):
    r = with_(PATIENT, name=[{"family": "Doe-Smith"}])
    exactly(v.validate(r, [X + "short-family"]), "error", "invariant", "Patient.name[0].family",
            "Constraint failed: x-2: 'A family name of 5 characters at most'")
    assert found(v.validate(PATIENT, [X + "short-family"])) == []


@covers("constraint")
def test_constraint_with_conforms_to(v):
    # conformsTo() runs a validation of its own (through the walker's hook, not a rule's call)
    exactly(v.validate(with_(PATIENT, gender="male"), [X + "conforms-to-fixed"]), "error",
            "invariant", "Patient", "Constraint failed: x-3")
    assert found(v.validate(with_(PATIENT, gender="female"), [X + "conforms-to-fixed"])) == []


@covers("constraint")
def test_constraint_native_per_1(v):
    r = {"resourceType": "Encounter", "text": NARRATIVE, "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "period": {"start": "2020-01-02", "end": "2020-01-01"}}
    exactly(v.validate(r), "error", "invariant", "Encounter.period", "per-1",
            "start SHALL have a lower value than end")


@covers("constraint")
def test_constraint_native_dom_3_names_the_resource(v):
    r = with_(OBS, contained=[{"resourceType": "Patient", "id": "lonely"}])
    exactly(v.validate(r), "error", "invariant", "Observation", "dom-3", "unmatched: lonely")


@covers("constraint")
def test_constraint_that_cannot_be_evaluated_is_said(v):
    issues = v.validate(PATIENT, [X + "bad-constraint"])
    assert found(issues, "fatal", "error", "warning") == []
    got = [x for x in found(issues, "information") if x[1] == "not-supported"]
    assert len(got) == 1 and got[0][:3] == ("information", "not-supported", "Patient")
    assert got[0][3].startswith("Constraint x-1 cannot be checked here:")


# ---- profiles that cannot be used
def test_profile_whose_snapshot_fails_is_an_error(v):
    exactly(v.validate(PATIENT, [X + "broken"]), "error", "invalid", "Patient",
            "Profile " + X + "broken cannot be used", "snapshot cannot be generated",
            "Patient.nonsense")
    r = with_(PATIENT, meta={"profile": [X + "broken"]})
    exactly(v.validate(r), "error", "invalid", "Patient.meta.profile", X + "broken")


# ---- questionnaire response (details: test_rule_questionnaire.py)
@covers("questionnaire response")
def test_questionnaire_response_unknown_link_id():
    reg = Registry()
    reg.add({"resourceType": "Questionnaire", "url": "http://x/q/1", "status": "active",
             "item": [{"linkId": "a", "type": "string"}]})
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": "http://x/q/1",
          "status": "completed", "item": [{"linkId": "zz", "answer": [{"valueString": "x"}]}]}
    exactly(Validator(registry=reg).validate(qr), "error", "structure", "QuestionnaireResponse",
            "LinkId 'zz' not found in questionnaire")


# ---- attachment
@covers("attachment")
def test_attachment_size_and_hash_agree_with_the_data(v):
    import base64
    import hashlib
    data = base64.b64encode(b"help i'm a bug").decode()
    sha = base64.b64encode(hashlib.sha1(b"help i'm a bug").digest()).decode()
    media = {"resourceType": "Media", "text": NARRATIVE, "status": "completed",
             "content": {"contentType": "text/plain", "data": data, "size": 14, "hash": sha}}
    assert found(v.validate(media)) == []
    exactly(v.validate(with_(media, content=dict(media["content"], size=100))), "error", "value",
            "Media.content", "Stated Attachment Size 100 does not match actual attachment size 14")
    exactly(v.validate(with_(media, content=dict(media["content"], hash="AAAA"))), "error",
            "value", "Media.content", "Stated Attachment Hash does not match")


# ---- signature
@covers("signature")
def test_signature_data_that_is_a_jws_compact_serialisation(v):
    sig = {"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
           "when": "2024-01-01T00:00:00Z", "who": {"reference": "Patient/p1"},
           "data": "eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln"}
    bundle = {"resourceType": "Bundle", "type": "collection", "signature": sig}
    got = found(v.validate(bundle))
    assert ("error", "invalid", "Bundle.signature", "The signature data is not valid base64 "
            "content, but it looks like native application/jose (a JWS compact serialisation):"
            " Signature.data must be its base64 encoding") in got
    ok = dict(sig, data="c2lnbmVk")
    assert found(v.validate(dict(bundle, signature=ok))) == []
    assert any("not verified" in m for *_, m in found(v.validate(dict(bundle, signature=ok)),
                                                       "information"))


# ---- conformance resources (details: test_rule_classes.py)
@covers("conformance resource")
def test_canonical_url_must_be_absolute(v):
    vs = {"resourceType": "ValueSet", "url": "ValueSet/x", "status": "active"}
    exactly(v.validate(vs), "error", "invalid", "ValueSet.url",
            "Canonical URLs must be absolute URLs if they are not fragment references")


# ---- measure report (details: test_rule_classes.py)
@covers("measure report")
def test_measure_report_of_a_cohort_measure_has_no_score():
    reg = Registry()
    reg.add({"resourceType": "Measure", "url": "http://x/m/1", "status": "active",
             "scoring": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "measure-scoring", "code": "cohort"}]},
             "group": [{"id": "g"}]})
    mr = {"resourceType": "MeasureReport", "status": "complete", "type": "summary",
          "measure": "http://x/m/1", "period": {"start": "2024-01-01"},
          "group": [{"id": "g", "measureScore": {"value": 10}}]}
    exactly(Validator(registry=reg).validate(mr), "error", "invalid",
            "MeasureReport.group[0].measureScore", "No measureScore when the scoring")


# ---- additional binding (tools / R5 cross-version extension on ElementDefinition.binding)
@covers("additional binding")
def test_additional_binding_required():
    reg = Registry()
    reg.add({"resourceType": "ValueSet", "url": "http://x/vs/ab", "status": "active",
             "compose": {"include": [{"system": "http://loinc.org",
                                      "concept": [{"code": "1-8"}]}]}})
    reg.add(profile("ab", "Observation", [{"path": "Observation.code", "binding": {
        "strength": "example", "valueSet": "http://hl7.org/fhir/ValueSet/observation-codes",
        "extension": [{"url": "http://hl7.org/fhir/tools/StructureDefinition/additional-binding",
                       "extension": [{"url": "purpose", "valueCode": "required"},
                                     {"url": "valueSet", "valueCanonical": "http://x/vs/ab"}]}]}}]))
    va = Validator(registry=reg)
    r = with_(OBS, code={"coding": [{"system": "http://loinc.org", "code": "2-6"}]})
    exactly(va.validate(r, [X + "ab"]), "error", "code-invalid", "Observation.code",
            "specified in an additional binding", "http://loinc.org#2-6")
    ok = with_(OBS, code={"coding": [{"system": "http://loinc.org", "code": "1-8"}]})
    assert found(va.validate(ok, [X + "ab"])) == []
