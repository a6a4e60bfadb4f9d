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


def test_valueset_include_system_absolute_and_contained_canonical(v):
    vs = {"resourceType": "ValueSet", "url": "http://x/vs", "status": "active",
          "contained": [{"resourceType": "CodeSystem", "id": "c1", "url": "c1",
                         "status": "active", "content": "complete", "concept": [{"code": "a"}]}],
          "compose": {"include": [{"system": "#c1"}]}}
    got = errors(v.validate(vs))
    assert ("ValueSet.contained[0].url", "Canonical URLs in contained resources must be "
            "absolute URLs if present (c1)") in got
    assert any(loc == "ValueSet.compose.include[0]" and "must be absolute" in m for loc, m in got)


def test_codesystem_properties(v):
    cp = "http://hl7.org/fhir/concept-properties#"
    cs = {"resourceType": "CodeSystem", "url": "http://x/cs", "status": "active",
          "content": "complete",
          "property": [{"uri": cp + "notSelectable", "code": "notSelectable", "type": "dateTime"},
                       {"code": "notSelectable", "type": "boolean"},
                       {"uri": cp + "inactive", "code": "retired", "type": "boolean"},
                       {"code": "weight", "type": "decimal"}],
          "concept": [{"code": "a", "property": [{"code": "weight", "valueInteger": 2},
                                                 {"code": "retired", "valueBoolean": True}]}]}
    got = [(loc, m.split(":")[0].split(" (")[0]) for loc, m in errors(v.validate(cs))]
    assert sorted(got) == sorted([
        ("CodeSystem.property[0]", "Wrong type 'dateTime'"),
        ("CodeSystem.property[1]", "A property is already defined with the code 'notSelectable'"),
        ("CodeSystem.property[2]", "The URI 'http"),
        ("CodeSystem.concept[0].property[0]", "The property 'weight' has the invalid type "
         "'integer', when it is defined to have the type 'decimal'")])


def test_searchparameter_derived_from_core_and_capability_statement():
    from fhirsvc.validation import Validator as V
    v = V()
    sp = {"resourceType": "SearchParameter", "url": "http://x/sp", "name": "n", "status": "active",
          "description": "d", "code": "name", "base": ["Patient"], "type": "token",
          "expression": "Organization.name",
          "derivedFrom": "http://hl7.org/fhir/SearchParameter/Organization-name"}
    got = [m for _, m in errors(v.validate(sp))]
    assert any(m.startswith("The type token is different to the type string") for m in got)
    assert any(m.startswith("The resource type Patient is not listed as a base") for m in got)
    cap = {"resourceType": "CapabilityStatement", "status": "active", "date": "2024-01-01",
           "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
           "implementation": {"description": "x"},
           "rest": [{"mode": "server", "resource": [{"type": "Patient", "searchParam": [
               {"name": "name", "type": "date",
                "definition": "http://hl7.org/fhir/SearchParameter/Patient-name"}]}]}]}
    got = errors(v.validate(cap))
    assert [loc for loc, m in got if m.startswith("Type mismatch")] == [
        "CapabilityStatement.rest[0].resource[0].searchParam[0]"]


def test_searchset_bundle_rules(v):
    b = {"resourceType": "Bundle", "type": "searchset",
         "link": [{"relation": "self", "url": "http://s/Patient?name=x"},
                  {"relation": "self", "url": "http://s/Patient?name=x"}],
         "entry": [{"fullUrl": "http://s/Immunization/1", "search": {"mode": "match"},
                    "resource": {"resourceType": "Patient"}},
                   {"fullUrl": "http://s/x", "search": {"mode": "outcome"},
                    "resource": {"resourceType": "Patient", "id": "p"}},
                   {"fullUrl": "http://something", "search": {"mode": "match"},
                    "resource": {"resourceType": "Patient", "id": "q"}}]}
    got = errors(v.validate(b))
    assert ("Bundle.link[1]", "The link relationship type 'self' can only occur once") in got
    assert ("Bundle.entry[0].resource", "Search results must have ids") in got
    assert ("Bundle.entry[1].resource", "This is not an OperationOutcome (Patient)") in got
    # a fullUrl that is not RESTful (no Type/id) is only an identity: no id mismatch
    assert not any(loc == "Bundle.entry[2]" for loc, _ in got)


def test_unknown_extensions_can_be_accepted_as_warnings():
    from fhirsvc.definitions.registry import default_registry
    r = patient(extension=[{"url": "https://other.org/ext", "valueString": "x"}])
    lenient = Validator(default_registry(), unknown_extensions="warning")
    assert errors(lenient.validate(r)) == []
    assert any(i.severity == "warning" for i in lenient.validate(r))
    with pytest.raises(ValueError):
        Validator(default_registry(), unknown_extensions="ignore")


def test_shape_and_fast_paths_give_the_same_answers_as_the_full_walk(v):
    """The walker keeps per-shape groupings and skips the rule loop for primitives whose only
    rule is their format: the verdicts must not depend on what was validated before."""
    good = {"resourceType": "Observation", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "2339-0"}]}, "issued": "2024-01-01T00:00:00Z"}
    bad_format = dict(good, issued="2024-13-01T00:00:00Z")
    bad_code = dict(good, code={"coding": [{"system": "http://loinc.org", "code": " x"}]})
    unknown = dict(good, code={"coding": [{"system": "http://loinc.org", "code": "1", "x": 1}]})
    for _ in range(2):
        assert errors(v.validate(good)) == []
        assert [loc for loc, _ in errors(v.validate(bad_format))] == ["Observation.issued"]
        assert [loc for loc, _ in errors(v.validate(bad_code))] == [
            "Observation.code.coding[0].code"]
        assert errors(v.validate(unknown)) == [
            ("Observation.code.coding[0].x", "Unrecognized property 'x'")]


def test_target_profile_narrowed_by_a_profile_is_checked_on_unresolved_references():
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x/sd/comm",
             "type": "Communication", "kind": "resource", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Communication",
             "differential": {"element": [{"path": "Communication.partOf", "type": [
                 {"code": "Reference", "targetProfile": [
                     "http://hl7.org/fhir/StructureDefinition/Patient",
                     "http://x/sd/unknown-target"]}]}]}})
    v = Validator(reg)
    comm = {"resourceType": "Communication", "status": "completed",
            "partOf": [{"reference": "Observation/o1"}]}
    # core Communication.partOf allows any resource: nothing to say
    assert errors(v.validate(comm)) == []
    narrowed = dict(comm, meta={"profile": ["http://x/sd/comm"]})
    # an unknown target profile could be of any type: no verdict
    assert errors(v.validate(narrowed)) == []
    reg.add({"resourceType": "StructureDefinition", "url": "http://x/sd/comm2",
             "type": "Communication", "kind": "resource", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Communication",
             "differential": {"element": [{"path": "Communication.partOf", "type": [
                 {"code": "Reference", "targetProfile": [
                     "http://hl7.org/fhir/StructureDefinition/Patient"]}]}]}})
    got = errors(Validator(reg).validate(dict(comm, meta={"profile": ["http://x/sd/comm2"]})))
    assert got == [("Communication.partOf[0].reference",
                    "The type 'Observation' is not valid for this reference (allowed: Patient)")]


def test_min_max_quantities_convert_ucum_units_and_durations_count_from_now():
    import datetime as dt
    reg = Registry()
    base = "http://hl7.org/fhir/StructureDefinition/"
    reg.add_all([
        {"resourceType": "StructureDefinition", "url": "http://x/sd/minq", "type": "Observation",
         "kind": "resource", "derivation": "constraint", "baseDefinition": base + "Observation",
         "differential": {"element": [{"path": "Observation.valueQuantity", "minValueQuantity": {
             "value": 0, "system": "http://unitsofmeasure.org", "code": "kg"}}]}},
        {"resourceType": "StructureDefinition", "url": "http://x/sd/maxd", "type": "Patient",
         "kind": "resource", "derivation": "constraint", "baseDefinition": base + "Patient",
         "differential": {"element": [{"path": "Patient.birthDate", "maxValueDuration": {
             "value": 10, "system": "http://unitsofmeasure.org", "code": "a"}}]}}])
    v = Validator(reg)
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "w"},
           "valueQuantity": {"value": -1, "system": "http://unitsofmeasure.org", "code": "g"}}
    assert [loc for loc, _ in errors(v.validate(obs, ["http://x/sd/minq"]))] == [
        "Observation.valueQuantity"]
    obs["valueQuantity"]["value"] = 1
    assert errors(v.validate(obs, ["http://x/sd/minq"])) == []
    year = dt.date.today().year
    ok = {"resourceType": "Patient", "birthDate": f"{year + 5}-01-01"}
    late = {"resourceType": "Patient", "birthDate": f"{year + 20}-01-01"}
    assert errors(v.validate(ok, ["http://x/sd/maxd"])) == []
    assert [m for _, m in errors(v.validate(late, ["http://x/sd/maxd"]))] == [
        "The value is greater than the permitted maximum value of \"10 a after now\""]


def test_a_profile_cannot_refix_what_its_base_fixes():
    reg = Registry()
    base = {"resourceType": "StructureDefinition", "url": "http://x/sd/ext-base",
            "name": "B", "status": "draft", "kind": "complex-type", "abstract": False,
            "context": [{"type": "element", "expression": "Element"}], "type": "Extension",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "derivation": "constraint", "differential": {"element": [
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": "http://x/sd/ext-base"},
                {"id": "Extension.value[x]", "path": "Extension.value[x]",
                 "type": [{"code": "string"}]}]}}
    reg.add(base)
    derived = dict(base, url="http://x/sd/ext-derived", name="D",
                   baseDefinition="http://x/sd/ext-base", differential={"element": [
                       {"id": "Extension.url", "path": "Extension.url",
                        "fixedUri": "http://x/sd/ext-derived"}]})
    got = errors(Validator(reg).validate(derived))
    assert [loc for loc, _ in got] == ["StructureDefinition.differential.element[0]"]
    assert "fixed to 'http://x/sd/ext-base'" in got[0][1]
    same = dict(derived, differential={"element": [
        {"id": "Extension.url", "path": "Extension.url", "fixedUri": "http://x/sd/ext-base"}]})
    assert errors(Validator(reg).validate(same)) == []


@pytest.mark.parametrize("lang,expr,words", [
    ("text/cql", "%p-inactive", "must be 'text/fhirpath' not 'text/cql'"),
    ("text/fhirpath", "$ and %p-inactive", "is not a valid FHIRPath"),
    ("text/fhirpath", "%p-inactive", None),
])
def test_valueset_filter_expressions(v, lang, expr, words):
    vs = {"resourceType": "ValueSet", "url": "http://x/vs", "status": "active", "compose": {
        "include": [{"system": "http://snomed.info/sct", "filter": [{
            "property": "inactive", "op": "=", "_value": {"extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/cqf-expression",
                "valueExpression": {"language": lang, "expression": expr}}]}}]}]}}
    got = errors(v.validate(vs))
    if words is None:
        assert got == []
    else:
        assert [loc for loc, _ in got] == [
            "ValueSet.compose.include[0].filter[0].value.extension[0].valueExpression"]
        assert words in got[0][1]


def test_valueset_filter_values_of_declared_properties():
    reg = Registry()
    reg.add_all([
        {"resourceType": "CodeSystem", "url": "http://x/cs/filtered", "status": "active",
         "content": "complete", "property": [{"code": "myproperty", "type": "Coding"},
                                             {"code": "flag", "type": "boolean"}],
         "concept": [{"code": "a"}]},
        {"resourceType": "CodeSystem", "url": "http://x/cs/targets", "status": "active",
         "content": "complete", "concept": [{"code": "t1"}]}])
    v = Validator(reg)

    def vs(prop, value):
        return {"resourceType": "ValueSet", "url": "http://x/vs", "status": "active",
                "compose": {"include": [{"system": "http://x/cs/filtered", "filter": [
                    {"property": prop, "op": "=", "value": value}]}]}}
    assert errors(v.validate(vs("myproperty", "http://x/cs/targets#t1"))) == []
    assert "must be in the format system(|version)#code" in \
        errors(v.validate(vs("myproperty", "t1")))[0][1]
    assert "Unknown code 't9'" in errors(v.validate(vs("myproperty", "http://x/cs/targets#t9")))[0][1]
    assert "must be either 'true' or 'false', not '1'" in errors(v.validate(vs("flag", "1")))[0][1]


def test_references_into_a_bundle_with_several_versions_of_a_resource(v):
    def obs(vid):
        return {"fullUrl": "http://example.org/Observation/o1", "resource": {
            "resourceType": "Observation", "id": "o1", "meta": {"versionId": vid},
            "status": "final", "code": {"text": "x"}}}
    b = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://example.org/Patient/p1", "resource": {
            "resourceType": "Patient", "id": "p1", "link": [
                {"type": "seealso", "other": {"reference": "Observation/o1"}},
                {"type": "seealso", "other": {"reference": "Observation/o1/_history/3"}},
                {"type": "seealso", "other": {"reference": "Observation/o1/_history/2"}}]}},
        obs("1"), obs("2")]}
    got = errors(v.validate(b))
    locs = [loc for loc, _ in got if ".link[" in loc]
    assert locs == ["Bundle.entry[0].resource.link[0].other.reference",
                    "Bundle.entry[0].resource.link[1].other.reference"], got
    assert "Found 2 matches for 'Observation/o1'" in got[0][1]
    assert "Can't find 'Observation/o1/_history/3'" in got[1][1]


def test_json_comments_are_an_error_each_unless_allowed(v, tmp_path):
    from fhirsvc import validate_cli
    from fhirsvc.validation.jsonc import strip_comments
    text = '{\n  "resourceType": "Patient", // one\n  "gender": "female" /* two */,\n' \
           '  "name": [{"family": "a // not a comment"}]\n}'
    stripped, where = strip_comments(text)
    assert where == [(2, 30), (3, 22)] and "a // not a comment" in stripped
    got = errors(v.validate_bytes(text))
    assert [m for _, m in got] == ["Comments are not allowed in JSON (line 2, column 30)",
                                   "Comments are not allowed in JSON (line 3, column 22)"]
    assert errors(v.validate_bytes(text, allow_comments=True)) == []
    # still a fatal parse error when it is not JSON even without its comments
    assert v.validate_bytes('{"resourceType": "Patient", // x\n')[0].severity == "fatal"
    f = tmp_path / "c.json"
    f.write_text(text)
    assert validate_cli.main([str(f)]) == 1
    assert validate_cli.main(["--allow-comments", str(f)]) == 0


def test_measure_report_stratifiers_match_the_measure():
    reg = Registry()
    cc = {"coding": [{"system": "http://x/cs", "code": "age"}]}
    reg.add({"resourceType": "Measure", "url": "http://x/m/2", "status": "active",
             "group": [{"id": "g", "stratifier": [{"id": "s1", "code": cc},
                                                  {"id": "s2", "component": [{"code": cc}]}]}]})
    mr = {"resourceType": "MeasureReport", "status": "complete", "type": "summary",
          "measure": "http://x/m/2", "period": {"start": "2024-01-01"},
          "group": [{"id": "g", "stratifier": [{"code": [cc]}, {"stratum": [{"value": {"text": "x"}}]}]}]}
    got = errors(Validator(reg).validate(mr))
    assert ("MeasureReport.group[0].stratifier[1]", "Group should have a code that matches the "
            "group stratifier definition in the measure") in got
    assert ("MeasureReport.group[0]", "The MeasureReport does not include a stratifier for the "
            "stratifier with code '' (id = 's2')") in got
    assert len(got) == 2


def test_conceptmap_source_codes_belong_to_the_source_value_set():
    reg = Registry()
    reg.add_all([
        {"resourceType": "CodeSystem", "url": "http://x/cs/src", "status": "active",
         "content": "complete", "concept": [{"code": "a"}, {"code": "b"}]},
        {"resourceType": "ValueSet", "url": "http://x/vs/src", "status": "active",
         "compose": {"include": [{"system": "http://x/cs/src", "concept": [{"code": "a"}]}]}}])
    cm = {"resourceType": "ConceptMap", "url": "http://x/cm", "status": "active",
          "sourceCanonical": "http://x/vs/src", "group": [{"source": "http://x/cs/src",
                                                          "element": [{"code": "a"}, {"code": "b"}]}]}
    assert errors(Validator(reg).validate(cm)) == [
        ("ConceptMap.group[0].element[1].code",
         "The source code 'b' is not valid in the value set http://x/vs/src")]
