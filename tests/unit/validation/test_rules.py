"""One test (at least) per validation rule: each builds a small resource that breaks the rule
and checks the issue (severity, location), and a neighbour that keeps it."""
from __future__ import annotations

import copy

import pytest

from fhirsvc.definitions.registry import Registry
from fhirsvc.validation import Validator, validate

CORE = "http://hl7.org/fhir/StructureDefinition/"


@pytest.fixture(scope="module")
def v():
    return Validator(registry=Registry())


def errors(issues):
    return [(i.expression[0] if i.expression else None, i.message) for i in issues
            if i.severity in ("error", "fatal")]


def err_at(issues, expr):
    return [m for e, m in errors(issues) if e == expr]


PATIENT = {"resourceType": "Patient", "id": "p1", "text": {"status": "generated",
           "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
           "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1970-05-01"}

OBS = {"resourceType": "Observation", "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
       "subject": {"reference": "Patient/p1"},
       "effectiveDateTime": "2024-03-02T09:30:10+01:00",
       "valueQuantity": {"value": 44, "unit": "/min", "system": "http://unitsofmeasure.org",
                         "code": "/min"}}


def with_(base, **kw):
    r = copy.deepcopy(base)
    r.update(kw)
    return r


def test_valid_patient_has_no_error(v):
    assert errors(v.validate(PATIENT)) == []


def test_valid_heart_rate_has_no_error(v):
    assert errors(v.validate(OBS)) == []


# ---- JSON syntax and resourceType
def test_json_syntax_error_has_line_and_column(v):
    issues = v.validate_bytes(b'{\n  "resourceType": "Patient",\n  "id": ]\n}')
    assert issues[0].severity == "fatal"
    assert "line 3" in issues[0].message and "column" in issues[0].message


def test_unknown_resource_type(v):
    assert errors(v.validate({"resourceType": "Patiente"}))


def test_missing_resource_type(v):
    assert v.validate_bytes(b'{"id": "x"}')[0].severity == "fatal"


# ---- structure
def test_unknown_element(v):
    assert err_at(v.validate(with_(PATIENT, foo=1)), "Patient.foo")


def test_array_expected(v):
    assert err_at(v.validate(with_(PATIENT, name={"family": "Doe"})), "Patient.name")


def test_single_value_expected(v):
    assert err_at(v.validate(with_(PATIENT, gender=["male"])), "Patient.gender")


def test_empty_array(v):
    assert err_at(v.validate(with_(PATIENT, identifier=[])), "Patient.identifier")


def test_empty_string(v):
    assert err_at(v.validate(with_(PATIENT, gender="")), "Patient.gender")


def test_empty_object(v):
    assert err_at(v.validate(with_(PATIENT, maritalStatus={})), "Patient.maritalStatus")


def test_null_in_array(v):
    assert errors(v.validate(with_(PATIENT, name=[None])))


def test_choice_only_once(v):
    r = with_(OBS, valueString="x")
    assert any("Only one choice" in m for _, m in errors(v.validate(r)))


def test_choice_type_not_allowed(v):
    r = copy.deepcopy(OBS)
    del r["valueQuantity"]
    r["valueUri"] = "http://x"
    assert errors(v.validate(r))


def test_primitive_extension_allowed(v):
    r = with_(PATIENT, _birthDate={"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
         "valueDateTime": "1970-05-01T10:00:00Z"}]})
    assert errors(v.validate(r)) == []


def test_primitive_extension_unknown_property(v):
    assert errors(v.validate(with_(PATIENT, _birthDate={"foo": 1})))


# ---- primitive formats
@pytest.mark.parametrize("field,value", [
    ("birthDate", "1970-02-30"), ("birthDate", "not a date"), ("birthDate", "1970-1-1"),
    ("active", "true"), ("gender", " male"), ("multipleBirthInteger", "2"),
    ("multipleBirthInteger", 2**31), ("multipleBirthInteger", 1.5),
    ("deceasedDateTime", "2020-01-01T10:00:00"), ("implicitRules", "a b"),
])
def test_primitive_format_errors(v, field, value):
    assert err_at(v.validate(with_(PATIENT, **{field: value})), f"Patient.{field}")


def test_decimal_no_coercion(v):
    r = copy.deepcopy(OBS)
    r["valueQuantity"]["value"] = "72"
    assert err_at(v.validate(r), "Observation.valueQuantity.value")


@pytest.mark.parametrize("rid,ok", [("a-b.c", True), ("bad_id", False), ("x" * 65, False),
                                    ("bad id", False)])
def test_resource_id(v, rid, ok):
    assert (err_at(v.validate(with_(PATIENT, id=rid)), "Patient.id") == []) == ok


def test_base64(v):
    r = {"resourceType": "Binary", "contentType": "text/plain", "data": "%%%"}
    assert err_at(v.validate(r), "Binary.data")
    assert errors(v.validate(with_(r, data="aGVsbG8="))) == []


def test_instant_needs_timezone(v):
    r = with_(PATIENT, meta={"lastUpdated": "2020-01-01T10:00:00"})
    assert err_at(v.validate(r), "Patient.meta.lastUpdated")


# ---- cardinality
def test_min_cardinality(v):
    r = copy.deepcopy(OBS)
    del r["status"]
    assert any("Observation.status: minimum required" in m
               for m in err_at(v.validate(r), "Observation"))


def test_max_cardinality_in_profile(v, tmp_path):
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x/sd/one-name",
             "type": "Patient", "kind": "resource", "derivation": "constraint",
             "baseDefinition": CORE + "Patient",
             "differential": {"element": [{"id": "Patient.name", "path": "Patient.name",
                                           "max": "1"}]}})
    val = Validator(registry=reg)
    r = with_(PATIENT, name=[{"family": "A"}, {"family": "B"}])
    assert any("max allowed = 1" in m for _, m in errors(val.validate(r, ["http://x/sd/one-name"])))
    assert errors(val.validate(PATIENT, ["http://x/sd/one-name"])) == []


# ---- bindings and code systems
def test_required_binding_code(v):
    assert err_at(v.validate(with_(PATIENT, gender="yes")), "Patient.gender")


def test_required_binding_no_value_only_extension(v):
    r = with_(PATIENT, _gender={"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]})
    assert err_at(v.validate(r), "Patient.gender")


def test_extensible_binding_is_warning(v):
    r = with_(PATIENT, maritalStatus={"coding": [{"system": "http://example.org/ms", "code": "x"}]})
    issues = v.validate(r)
    assert errors(issues) == []
    assert any(i.severity == "warning" and i.expression == ("Patient.maritalStatus",) for i in issues)


def test_unknown_code_in_fhir_code_system(v):
    r = with_(PATIENT, maritalStatus={"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "ZZZ"}]})
    assert err_at(v.validate(r), "Patient.maritalStatus.coding[0].code")


def test_external_terminology_is_information_once(v):
    issues = v.validate(OBS)
    info = [i for i in issues if i.severity == "information" and "LOINC" in i.message]
    assert len(info) == 1


def test_quantity_required_binding(v, tmp_path):
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x/sd/age", "type": "Observation",
             "kind": "resource", "derivation": "constraint", "baseDefinition": CORE + "Observation",
             "differential": {"element": [{"id": "Observation.value[x]", "path": "Observation.value[x]",
                                           "type": [{"code": "Quantity"}],
                                           "binding": {"strength": "required",
                                                       "valueSet": "http://hl7.org/fhir/ValueSet/age-units"}}]}})
    val = Validator(registry=reg)
    r = copy.deepcopy(OBS)
    r["valueQuantity"].update(code="m", unit="m")
    assert errors(val.validate(r, ["http://x/sd/age"]))
    r["valueQuantity"].update(code="a", unit="a")
    assert errors(val.validate(r, ["http://x/sd/age"])) == []


# ---- invariants
def test_invariant_fhirpath(v):
    r = {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/p"},
         "prediction": [{"probabilityDecimal": 120}]}
    assert any("ras-2" in m for m in err_at(v.validate(r), "RiskAssessment.prediction[0]"))
    r["prediction"][0]["probabilityDecimal"] = 20
    assert errors(v.validate(r)) == []


def test_invariant_period_native(v):
    r = {"resourceType": "Encounter", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "period": {"start": "2020-01-02", "end": "2020-01-01"}}
    assert any("per-1" in m for m in err_at(v.validate(r), "Encounter.period"))
    r["period"] = {"start": "2020-01-01", "end": "2020-01-02"}
    assert errors(v.validate(r)) == []


def test_invariant_ext_1(v):
    r = with_(PATIENT, extension=[{"url": "http://example.org/x"}])
    assert any("ext-1" in m for _, m in errors(v.validate(r)))


def test_invariant_ref_1_and_contained(v):
    r = with_(OBS, subject={"reference": "#nope"})
    assert any("ref-1" in m for _, m in errors(v.validate(r)))
    r["contained"] = [{"resourceType": "Patient", "id": "nope"}]
    assert errors(v.validate(r)) == []


def test_invariant_dom_3_contained_not_referenced(v):
    r = with_(OBS, contained=[{"resourceType": "Patient", "id": "lonely"}])
    assert any("dom-3" in m for _, m in errors(v.validate(r)))


def test_hasvalue_custom_function():
    from fhirpathpy.engine.nodes import ResourceNode
    from fhirsvc.validation.fhirpath import _compiled
    f = _compiled("birthDate.hasValue()")
    assert f(ResourceNode.create_node({"resourceType": "Patient", "birthDate": "2000"}), {}) == [True]


# ---- fixed, pattern, min/max
def _profile(reg, url, rtype, elements):
    reg.add({"resourceType": "StructureDefinition", "url": url, "type": rtype, "kind": "resource",
             "derivation": "constraint", "baseDefinition": CORE + rtype,
             "differential": {"element": elements}})
    return Validator(registry=reg)


def test_fixed_value():
    val = _profile(Registry(), "http://x/sd/f", "Patient",
                   [{"id": "Patient.gender", "path": "Patient.gender", "fixedCode": "female"}])
    assert err_at(val.validate(with_(PATIENT, gender="male"), ["http://x/sd/f"]), "Patient.gender")
    assert errors(val.validate(with_(PATIENT, gender="female"), ["http://x/sd/f"])) == []


def test_fixed_complex_extra_element():
    val = _profile(Registry(), "http://x/sd/fc", "Patient",
                   [{"id": "Patient.telecom", "path": "Patient.telecom", "fixedContactPoint": {"use": "home"}}])
    r = with_(PATIENT, telecom=[{"use": "home", "system": "phone"}])
    assert err_at(val.validate(r, ["http://x/sd/fc"]), "Patient.telecom[0].system")


def test_pattern_value():
    val = _profile(Registry(), "http://x/sd/p", "Observation",
                   [{"id": "Observation.code", "path": "Observation.code",
                     "patternCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "1-8"}]}}])
    assert err_at(val.validate(OBS, ["http://x/sd/p"]), "Observation.code")


def test_min_value_date():
    val = _profile(Registry(), "http://x/sd/m", "Patient",
                   [{"id": "Patient.birthDate", "path": "Patient.birthDate", "minValueDate": "2000-01-01"}])
    assert err_at(val.validate(PATIENT, ["http://x/sd/m"]), "Patient.birthDate")


def test_max_value_quantity():
    val = _profile(Registry(), "http://x/sd/q", "Observation",
                   [{"id": "Observation.value[x]", "path": "Observation.value[x]", "type": [{"code": "Quantity"}]},
                    {"path": "Observation.valueQuantity", "maxValueQuantity": {
                        "value": 40, "system": "http://unitsofmeasure.org", "code": "/min"}}])
    assert err_at(val.validate(OBS, ["http://x/sd/q"]), "Observation.valueQuantity")


def test_max_length():
    val = _profile(Registry(), "http://x/sd/l", "Patient",
                   [{"id": "Patient.name.family", "path": "Patient.name.family", "maxLength": 2}])
    assert err_at(val.validate(PATIENT, ["http://x/sd/l"]), "Patient.name[0].family")


# ---- slicing
SLICED = [
    {"id": "Patient.identifier", "path": "Patient.identifier",
     "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"}},
    {"id": "Patient.identifier:mrn", "path": "Patient.identifier", "sliceName": "mrn",
     "min": 1, "max": "1"},
    {"id": "Patient.identifier:mrn.system", "path": "Patient.identifier.system",
     "fixedUri": "http://hospital/mrn"},
    {"id": "Patient.identifier:mrn.value", "path": "Patient.identifier.value", "min": 1},
]


def test_slice_required_missing():
    val = _profile(Registry(), "http://x/sd/s", "Patient", SLICED)
    assert any("matching slice is required" in m for _, m in errors(val.validate(PATIENT, ["http://x/sd/s"])))


def test_slice_ok_and_slice_children_checked():
    val = _profile(Registry(), "http://x/sd/s", "Patient", SLICED)
    ok = with_(PATIENT, identifier=[{"system": "http://hospital/mrn", "value": "1"}])
    assert errors(val.validate(ok, ["http://x/sd/s"])) == []
    bad = with_(PATIENT, identifier=[{"system": "http://hospital/mrn"}])
    assert errors(val.validate(bad, ["http://x/sd/s"]))


def test_slice_max_and_closed():
    val = _profile(Registry(), "http://x/sd/s", "Patient", SLICED)
    two = with_(PATIENT, identifier=[{"system": "http://hospital/mrn", "value": "1"},
                                     {"system": "http://hospital/mrn", "value": "2"}])
    assert any("max allowed = 1" in m for _, m in errors(val.validate(two, ["http://x/sd/s"])))
    other = with_(PATIENT, identifier=[{"system": "http://hospital/mrn", "value": "1"},
                                       {"system": "http://other", "value": "2"}])
    assert any("closed" in m for _, m in errors(val.validate(other, ["http://x/sd/s"])))


def test_type_slicing_on_bundle_entries():
    val = _profile(Registry(), "http://x/sd/b", "Bundle", [
        {"id": "Bundle.entry", "path": "Bundle.entry",
         "slicing": {"discriminator": [{"type": "type", "path": "resource"}], "rules": "open"}},
        {"id": "Bundle.entry:pat", "path": "Bundle.entry", "sliceName": "pat", "min": 1, "max": "1"},
        {"id": "Bundle.entry:pat.resource", "path": "Bundle.entry.resource", "type": [{"code": "Patient"}]}])
    b = {"resourceType": "Bundle", "type": "collection",
         "entry": [{"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "resource": PATIENT}]}
    assert errors(val.validate(b, ["http://x/sd/b"])) == []
    b2 = copy.deepcopy(b)
    b2["entry"].append(copy.deepcopy(b["entry"][0]))
    b2["entry"][1]["fullUrl"] = "urn:uuid:1c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"
    assert any("max allowed" in m for _, m in errors(val.validate(b2, ["http://x/sd/b"])))


def test_vital_signs_component_slices(v):
    bp = {"resourceType": "Observation", "status": "final",
          "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "vital-signs"}]}],
          "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
          "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2020-01-01",
          "component": [
              {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
               "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
              {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
               "valueQuantity": {"value": 80, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}
    assert errors(v.validate(bp)) == []
    bp["component"].pop()
    assert any("DiastolicBP" in m for _, m in errors(v.validate(bp)))


# ---- extensions
def test_known_extension_value_type_checked(v):
    r = with_(PATIENT, extension=[{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                                   "valueString": "Paris"}])
    assert errors(v.validate(r))
    r["extension"][0] = {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                         "valueAddress": {"city": "Paris"}}
    assert errors(v.validate(r)) == []


def test_unknown_extension_is_warning(v):
    r = with_(PATIENT, extension=[{"url": "http://example.org/ext", "valueString": "x"}])
    issues = v.validate(r)
    assert errors(issues) == []
    assert any(i.severity == "warning" and "Unknown extension" in i.message for i in issues)


def test_extension_context(v):
    r = copy.deepcopy(OBS)
    r["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                       "valueAddress": {"city": "Paris"}}]
    assert any("not allowed to be used" in i.message for i in v.validate(r))


# ---- references and bundles
def test_reference_target_type_in_bundle(v):
    b = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
         "resource": {"resourceType": "Organization", "name": "x"},
         "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:1c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
         "resource": with_(OBS, subject={"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}),
         "request": {"method": "POST", "url": "Observation"}}]}
    assert err_at(v.validate(b), "Bundle.entry[1].resource.subject.reference")


def test_reference_bad_format(v):
    assert errors(v.validate(with_(OBS, subject={"reference": "patient/1"})))


def test_bundle_fullurl_absolute_and_duplicates(v):
    b = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "Patient/1", "resource": with_(PATIENT, id="1")}]}
    assert err_at(v.validate(b), "Bundle.entry[0]")
    b = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x/Patient/1", "resource": with_(PATIENT, id="1")},
        {"fullUrl": "http://x/Patient/1", "resource": with_(PATIENT, id="1")}]}
    assert err_at(v.validate(b), "Bundle.entry[1]")


def test_issue_inside_bundle_entry_located(v):
    b = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x/Patient/1", "resource": with_(PATIENT, id="1", gender="yes")}]}
    assert err_at(v.validate(b), "Bundle.entry[0].resource.gender")


# ---- profiles
def test_unknown_profile_warning_or_strict_error():
    r = with_(PATIENT, meta={"profile": ["http://example.org/unknown"]})
    lax = Validator(registry=Registry())
    assert errors(lax.validate(r)) == []
    assert errors(lax.validate(r, strict=True))


def test_meta_profile_applied():
    reg = Registry()
    val = _profile(reg, "http://x/sd/need-gender", "Patient",
                   [{"id": "Patient.gender", "path": "Patient.gender", "min": 1}])
    r = with_(PATIENT, meta={"profile": ["http://x/sd/need-gender"]})
    assert errors(val.validate(r))


def test_implicit_vital_signs_profile(v):
    r = copy.deepcopy(OBS)
    r["code"]["coding"] = [{"system": "http://loinc.org", "code": "8310-5"}]
    # body temperature: category vital-signs and a Cel/degF unit are required
    assert errors(v.validate(r))


def test_guide_global_profile():
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x/sd/g", "type": "Patient",
             "kind": "resource", "derivation": "constraint", "baseDefinition": CORE + "Patient",
             "differential": {"element": [{"path": "Patient.gender", "min": 1}]}})
    reg.add({"resourceType": "ImplementationGuide", "url": "http://x/ig", "global": [
        {"type": "Patient", "profile": "http://x/sd/g"}]})
    assert errors(Validator(registry=reg).validate(PATIENT))


def test_strict_mode_requires_guide_profile():
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x/sd/g", "type": "Patient",
             "kind": "resource", "derivation": "constraint", "baseDefinition": CORE + "Patient",
             "differential": {"element": [{"path": "Patient.gender", "min": 1}]}})
    reg.set_guide_profiles({"Patient": ["http://x/sd/g"]})
    val = Validator(registry=reg)
    assert errors(val.validate(PATIENT)) == []
    assert errors(val.validate(PATIENT, strict=True))
    assert errors(val.validate(PATIENT)) == []  # strictness is per call


# ---- outcome and library function
def test_module_validate_returns_operation_outcome():
    oo = validate(b'{"resourceType": "Patient", "gender": "x"}')
    assert oo["resourceType"] == "OperationOutcome"
    issue = [i for i in oo["issue"] if i["severity"] == "error"][0]
    assert issue["expression"] == ["Patient.gender"] and issue["details"]["text"]


def test_rule_source_in_extension(v):
    r = {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/p"},
         "prediction": [{"probabilityDecimal": 120}]}
    oo = Validator(registry=v.registry).outcome(r)
    ext = [i for i in oo["issue"] if i["severity"] == "error"][0]["extension"][0]
    assert ext["valueString"].startswith("ras-2|")


def test_stable_order(v):
    r = with_(PATIENT, foo=1, gender="yes", birthDate="x")
    a = [i.to_fhir() for i in v.validate(r)]
    b = [i.to_fhir() for i in v.validate(copy.deepcopy(r))]
    assert a == b
    sev = [i["severity"] for i in a]
    assert sev == sorted(sev, key=["fatal", "error", "warning", "information"].index)
