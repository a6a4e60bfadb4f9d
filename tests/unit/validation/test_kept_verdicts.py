"""Kept verdicts (walker._walk_kept) never change a verdict.

A clean complex value met again is not walked again. That is sound only when nothing its checks
read lies outside the value, its definition, the generation and the run settings; every read of
the run's context marks the run (run.Run.root ...), and such values are never kept. These tests
validate with and without the table (`Validator(kept_verdicts=False)`) and compare every issue:
over the reference validator's cases and the official R4 examples (each validated twice, so the
second run meets its own values again), and on cases built so that a value identical in JSON has
another verdict in another context (contained targets, %resource invariants, bundles, extension
contexts, run settings, a new generation).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirsvc.definitions.registry import DefinitionsError, Registry, read_resource_file
from fhirsvc.validation import Validator
from fhirsvc.validation.definitions import Definitions

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"
CASES = SHARED / "fhir-test-cases"

needs_shared = pytest.mark.skipif(not CASES.is_dir(), reason="no shared conformance material")


def _key(issues):
    return [(i.severity, i.code, i.message, tuple(i.expression), i.source) for i in issues]


def _both(registry=None, **kw):
    """A validator with kept verdicts and one without, on one registry."""
    reg = registry if registry is not None else Registry()
    return Validator(registry=reg, **kw), Validator(registry=reg, kept_verdicts=False, **kw)


def _same(kept, plain, resource, profiles=()):
    """Issues with the table (twice: the second run meets its values again) and without."""
    want = _key(plain.validate(resource, profiles))
    assert _key(kept.validate(resource, profiles)) == want
    assert _key(kept.validate(resource, profiles)) == want
    return want


def errors(issues_key):
    return [(x[3][0] if x[3] else None, x[2]) for x in issues_key if x[0] in ("error", "fatal")]


def _table(v: Validator) -> dict:
    state = v.registry.state
    return Definitions.of(state).kept(state, (False, v.unknown_extensions,
                                              v.options.validate_contains,
                                              v.options.validate_reference))


# ---------------------------------------------------------------- the material
def _load(reg, path: Path) -> None:
    try:
        reg.load_path(path)
    except DefinitionsError:
        reg.add(read_resource_file(path, reg.state))


@needs_shared
@pytest.mark.parametrize("index_name", ["index.json", "index-extended.json"])
def test_the_reference_cases_give_the_same_issues_with_kept_verdicts(index_name):
    index = json.loads((CASES / index_name).read_text(encoding="utf-8"))
    core = Registry()
    compared = 0
    for case in index["cases"]:
        reg = core.fork()
        try:
            for sup in case.get("supporting") or ():
                _load(reg, CASES / sup)
            profiles = []
            prof = case.get("profile")
            if prof:
                for sup in prof.get("supporting") or ():
                    _load(reg, CASES / sup)
                _load(reg, CASES / prof["source"])
                profiles.append(read_resource_file(CASES / prof["source"], reg.state)["url"])
        except Exception:  # a case whose material does not load is the runner's business
            continue
        manifest = case.get("manifest_entry") or {}
        opts = {kw: manifest[name] for name, kw in (("validateContains", "validate_contains"),
                                                    ("validateReference", "validate_reference"))
                if manifest.get(name)}
        kept, plain = _both(reg, **opts)
        raw = (CASES / case["file"]).read_bytes()
        for asked in ([], profiles) if profiles else ([],):
            want = _key(plain.validate_bytes(raw, asked))
            for _ in range(2):
                assert _key(kept.validate_bytes(raw, asked)) == want, case["name"]
            compared += 1
    assert compared >= 40


@needs_shared
def test_the_r4_examples_give_the_same_issues_with_kept_verdicts():
    files = sorted((SHARED / "r4-examples").glob("*.json"))
    assert files
    reg = Registry()
    kept, plain = _both(reg)
    raws = [f.read_bytes() for f in files]
    first = [_key(kept.validate_bytes(r)) for r in raws]   # fills the table as it goes
    again = [_key(kept.validate_bytes(r)) for r in raws]   # meets every clean value again
    for f, r, a, b in zip(files, raws, first, again):
        want = _key(plain.validate_bytes(r))
        assert a == want, f.name
        assert b == want, f.name
    assert _table(kept)  # values were kept (else this compared nothing)


# ---------------------------------------------------------------- context-dependent values
def _obs(**kw):
    return dict({"resourceType": "Observation", "status": "final",
                 "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
                 "text": {"status": "generated",
                          "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}, **kw)


def test_a_value_is_kept_and_met_again():
    kept, plain = _both()
    r = _obs(subject={"display": "someone"})
    _same(kept, plain, r)
    table = _table(kept)
    assert any(k[3] == b'{"display":"someone"}' for k in table)


def test_a_contained_reference_resolves_in_its_own_resource():
    kept, plain = _both()
    target = {"resourceType": "Patient", "id": "p1"}
    ref = {"reference": "#p1"}
    with_target = _obs(subject=dict(ref), contained=[target])
    without = _obs(subject=dict(ref))
    assert errors(_same(kept, plain, with_target)) == []
    got = errors(_same(kept, plain, without))
    assert any("#p1" in m for _, m in got), got
    # and the other way round, on a fresh table
    kept, plain = _both()
    assert errors(_same(kept, plain, without))
    assert errors(_same(kept, plain, with_target)) == []


def test_a_percent_resource_invariant_sees_the_resource():
    reg = Registry()
    reg.add({"resourceType": "StructureDefinition", "url": "http://x.org/sd/kept-final",
             "name": "KeptFinal", "status": "active", "kind": "resource", "abstract": False,
             "type": "Observation", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
             "differential": {"element": [{
                 "id": "Observation.code", "path": "Observation.code",
                 "constraint": [{"key": "kept-1", "severity": "error",
                                 "human": "the code of a final observation only",
                                 "expression": "%resource.status = 'final'"}]}]}})
    kept, plain = _both(reg)
    url = ["http://x.org/sd/kept-final"]
    assert not [e for e in errors(_same(kept, plain, _obs(), url)) if "kept-1" in e[1]]
    got = errors(_same(kept, plain, _obs(status="preliminary"), url))
    assert any("kept-1" in m for _, m in got), got


def test_a_reference_in_a_bundle_is_resolved_there():
    kept, plain = _both()
    ref = {"reference": "urn:uuid:00000000-0000-0000-0000-000000000001"}
    found = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000001",
         "resource": {"resourceType": "Patient", "id": "a"}},
        {"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000002",
         "resource": _obs(id="b", subject=dict(ref))}]}
    lost = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000002",
         "resource": _obs(id="b", subject=dict(ref))}]}
    a = _same(kept, plain, found)
    b = _same(kept, plain, lost)
    assert a != b
    assert any("not found in the bundle" in x[2] for x in b)
    # the same Reference outside any bundle: not resolved, no issue about it
    assert not any("bundle" in x[2] for x in _same(kept, plain, _obs(subject=dict(ref))))


def test_an_extension_context_is_the_resource_around_it():
    kept, plain = _both()
    birth_place = {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                   "valueAddress": {"city": "Bern"}}
    # the same Identifier (Identifier.extension: one definition in both resources)
    ident = {"system": "http://x.org/ids", "value": "1", "extension": [birth_place]}
    on_patient = {"resourceType": "Patient", "identifier": [dict(ident)]}
    on_obs = _obs(identifier=[dict(ident)])
    a = _same(kept, plain, on_patient)
    b = _same(kept, plain, on_obs)
    assert not any("birthPlace" in x[2] for x in a)
    assert any("birthPlace is not allowed" in x[2] for x in b), b


def test_run_settings_have_tables_of_their_own():
    reg = Registry()
    lax, lax_plain = _both(reg)  # validate_reference IGNORE: Patient/x is only checked for form
    exists, exists_plain = _both(reg, validate_reference="CHECK_EXISTS")
    r = _obs(subject={"reference": "Patient/x"})
    for _ in range(2):
        assert errors(_same(lax, lax_plain, r)) == []
        got = errors(_same(exists, exists_plain, r))
        assert any("Unable to resolve" in m for _, m in got), got
    # strict validations (the guide's profiles required) keep apart from the others
    assert _key(lax.validate(r, strict=True)) == _key(lax_plain.validate(r, strict=True))


def test_a_new_generation_starts_its_own_table():
    reg = Registry()
    cs = {"resourceType": "CodeSystem", "url": "http://terminology.hl7.org/CodeSystem/x-kept",
          "status": "active", "content": "complete", "concept": [{"code": "a"}, {"code": "b"}]}
    reg.add(cs)
    kept, plain = _both(reg)
    r = {"resourceType": "Observation", "status": "final", "code": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/x-kept", "code": "b"}]}}
    assert not any("Unknown code" in m for _, m in errors(_same(kept, plain, r)))
    reg.remove(cs)
    reg.add(dict(cs, concept=[{"code": "a"}]))
    got = errors(_same(kept, plain, r))
    assert any("Unknown code 'b'" in m for _, m in got), got


def test_unchecked_code_systems_are_reported_again_from_a_kept_value():
    kept, plain = _both()
    r = _obs()  # LOINC: cannot be checked offline (one information issue)
    first = _same(kept, plain, r)
    assert any("cannot be checked offline" in x[2] for x in first)


def test_exact_decimals_are_kept_by_their_text():
    kept, plain = _both()
    raw = json.dumps(_obs(valueQuantity={"value": 1, "unit": "x"})).replace(
        '"value": 1', '"value": 1.10').encode()
    want = _key(plain.validate_bytes(raw))
    assert _key(kept.validate_bytes(raw)) == want
    assert _key(kept.validate_bytes(raw)) == want
    assert any(isinstance(k[3], bytes) and b'"value":1.10' in k[3] for k in _table(kept))
    # the same number as a string is another value (a decimal must be a JSON number)
    as_string = raw.replace(b'"value": 1.10', b'"value": "1.10"')
    assert as_string != raw
    got = _key(kept.validate_bytes(as_string))
    assert got == _key(plain.validate_bytes(as_string))
    assert errors(got) and not errors(want)
    # and a number beyond 64 bits is walked every time (orjson cannot write it)
    big = raw.replace(b'"value": 1.10', b'"value": 123456789012345678901234567890')
    assert _key(kept.validate_bytes(big)) == _key(plain.validate_bytes(big))
    assert _key(kept.validate_bytes(big)) == _key(plain.validate_bytes(big))


def test_ordered_slices_see_the_positions_of_the_values():
    reg = Registry()
    cat = "http://terminology.hl7.org/CodeSystem/observation-category"
    reg.add({"resourceType": "StructureDefinition", "url": "http://x.org/sd/kept-ordered",
             "name": "KeptOrdered", "status": "active", "kind": "resource", "abstract": False,
             "type": "Observation", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
             "differential": {"element": [
                 {"id": "Observation.category", "path": "Observation.category",
                  "slicing": {"discriminator": [{"type": "pattern", "path": "$this"}],
                              "ordered": True, "rules": "open"}},
                 {"id": "Observation.category:a", "path": "Observation.category",
                  "sliceName": "a", "min": 0, "max": "1",
                  "patternCodeableConcept": {"coding": [{"system": cat, "code": "laboratory"}]}},
                 {"id": "Observation.category:b", "path": "Observation.category",
                  "sliceName": "b", "min": 0, "max": "1",
                  "patternCodeableConcept": {"coding": [{"system": cat, "code": "survey"}]}}]}})
    kept, plain = _both(reg)
    url = ["http://x.org/sd/kept-ordered"]
    a = {"coding": [{"system": cat, "code": "laboratory"}]}
    b = {"coding": [{"system": cat, "code": "survey"}]}
    in_order = _obs(category=[dict(a), dict(b)])
    reversed_ = _obs(category=[dict(b), dict(a)])
    assert errors(_same(kept, plain, in_order, url)) == []
    got = errors(_same(kept, plain, reversed_, url))
    assert any("out of order" in m for _, m in got), got
    assert errors(_same(kept, plain, in_order, url)) == []


# ---------------------------------------------------------------- issues and probes (issue 16)
def _pass(validator, resource):
    """The issues of a validation as the pipeline decodes and validates it."""
    return _key(validator.validate(resource))


@needs_shared
def test_the_synthea_bundles_and_the_examples_give_the_same_issues_with_kept_verdicts():
    from fhirsvc.wire import decode_json
    repo = Path(__file__).resolve().parents[3]
    bundles = [decode_json(f.read_bytes()) for f in sorted((SHARED / "synthea").glob("*.json"))]
    examples = [decode_json(f.read_bytes()) for f in sorted((repo / "examples").rglob("*.json"))
                if not f.name.endswith(".expected.json")]
    assert bundles and examples
    reg = Registry()
    for ue in ("warning", "error"):
        kept, plain = _both(reg, unknown_extensions=ue)
        want = [_pass(plain, b) for b in bundles]
        for _ in range(2):  # the second pass meets every kept value again
            assert [_pass(kept, b) for b in bundles] == want
        # every entry on its own: the values kept inside the bundles meet no bundle now
        for b in bundles[:3]:
            for e in b["entry"]:
                assert _pass(kept, e["resource"]) == _pass(plain, e["resource"])
    kept, plain = _both(reg)
    for _ in range(2):
        for r in examples:
            if isinstance(r, dict):
                assert _pass(kept, r) == _pass(plain, r)
    table = _table(kept)
    assert any(v[1] for v in table.values())  # values with issues were kept
    assert any(v[2] for v in table.values())  # and values whose verdict has probes


def _bundle(entries, kind="collection"):
    return {"resourceType": "Bundle", "type": kind, "entry": [
        {"fullUrl": url, "resource": r} for url, r in entries]}


PAT = "urn:uuid:00000000-0000-0000-0000-00000000000a"
OBS = "urn:uuid:00000000-0000-0000-0000-00000000000b"


def test_a_reference_kept_in_one_bundle_is_checked_against_what_it_resolves_to_in_the_next():
    kept, plain = _both()
    ref = {"reference": PAT}
    # Observation.subject: Patient | Group | Device | Location; a Practitioner is not one
    right = _bundle([(PAT, {"resourceType": "Patient", "id": "a"}),
                     (OBS, _obs(id="b", subject=dict(ref)))])
    wrong = _bundle([(PAT, {"resourceType": "Practitioner", "id": "a"}),
                     (OBS, _obs(id="b", subject=dict(ref)))])
    for first, then in ((right, wrong), (wrong, right)):
        kept, plain = _both()
        a = _same(kept, plain, first)
        b = _same(kept, plain, then)
        assert a != b
    assert any("The type 'Practitioner' is not valid" in m for _, m in errors(
        _same(kept, plain, wrong)))
    assert not errors(_same(kept, plain, right))
    assert any(v[2] for v in _table(kept).values())  # the Reference was kept with its probe


def test_a_value_holding_a_reference_carries_its_probe():
    # Encounter.participant (a BackboneElement) holds a Reference to a Practitioner: the
    # participant's kept verdict must fail over when the target changes type
    part = {"individual": {"reference": PAT}}
    enc = {"resourceType": "Encounter", "id": "e", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                     "code": "AMB"}, "participant": [part]}
    right = _bundle([(PAT, {"resourceType": "Practitioner", "id": "a"}), (OBS, enc)])
    wrong = _bundle([(PAT, {"resourceType": "Patient", "id": "a"}), (OBS, enc)])
    kept, plain = _both()
    assert not errors(_same(kept, plain, right))
    got = errors(_same(kept, plain, wrong))
    assert any("The type 'Patient' is not valid" in m for _, m in got), got
    assert not errors(_same(kept, plain, right))


def test_versions_in_a_bundle_are_part_of_a_references_probe():
    kept, plain = _both()
    ref = {"reference": "Patient/a"}
    one = _bundle([("http://x.org/fhir/Patient/a", {"resourceType": "Patient", "id": "a",
                                                    "meta": {"versionId": "1"}}),
                   (OBS, _obs(id="b", subject=dict(ref)))], "collection")
    two = _bundle(one["entry"] and [
        ("http://x.org/fhir/Patient/a", {"resourceType": "Patient", "id": "a",
                                         "meta": {"versionId": "1"}}),
        ("http://x.org/fhir/Patient/a", {"resourceType": "Patient", "id": "a",
                                         "meta": {"versionId": "2"}}),
        (OBS, _obs(id="b", subject=dict(ref)))], "collection")
    assert not any("matches for" in m for _, m in errors(_same(kept, plain, one)))
    assert any("Found 2 matches for 'Patient/a'" in m for _, m in errors(
        _same(kept, plain, two)))
    assert not any("matches for" in m for _, m in errors(_same(kept, plain, one)))
    versioned = {"reference": "Patient/a/_history/3"}
    three = dict(two, entry=two["entry"][:2] + [
        {"fullUrl": OBS, "resource": _obs(id="b", subject=dict(versioned))}])
    assert any("none with this version" in m for _, m in errors(_same(kept, plain, three)))


def test_a_kept_issue_is_repeated_at_the_location_of_the_value_met_again():
    kept, plain = _both()
    cat = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                       "code": "vital-signs", "display": "not the display"}]}
    lab = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                       "code": "laboratory"}]}
    first = _same(kept, plain, _obs(category=[dict(cat)]))
    moved = _same(kept, plain, _obs(category=[dict(lab), dict(cat)]))
    twice = _same(kept, plain, _obs(category=[dict(cat), dict(lab), dict(cat)]))
    at = lambda got: sorted(x[3] for x in got if "Wrong Display" in x[2])  # noqa: E731
    assert at(first) == [("Observation.category[0].coding[0].display",)]
    assert at(moved) == [("Observation.category[1].coding[0].display",)]
    assert at(twice) == [("Observation.category[0].coding[0].display",),
                         ("Observation.category[2].coding[0].display",)]
    # inside a bundle entry too
    in_bundle = _same(kept, plain, _bundle([(OBS, _obs(id="b", category=[dict(cat)]))]))
    assert at(in_bundle) == [("Bundle.entry[0].resource.category[0].coding[0].display",)]
    assert any(v[1] for v in _table(kept).values())


def test_a_bound_code_is_kept_and_its_error_repeated_where_it_is_met_again():
    kept, plain = _both()
    bad = _obs(status="finished")   # not an ObservationStatus code
    contained = _obs(status="final", contained=[dict(_obs(status="finished"), id="c")],
                     hasMember=[{"reference": "#c"}])
    for r in (bad, contained, bad, _obs(status="final")):
        _same(kept, plain, r)
    at = [x[3] for x in _same(kept, plain, contained) if "finished" in x[2]]
    assert at == [("Observation.contained[0].status",)], at
    assert any(k[-1] == "primitive" and k[3] == "finished" for k in _table(kept))
