"""Registry generations: failures that stop a load (naming the file), copy-on-write states,
caches tied to their generation, and additions while other threads validate."""
from __future__ import annotations

import json
import sys
import threading

import pytest

from fhirsvc.definitions import registry as registry_module
from fhirsvc.definitions.registry import DefinitionsError, Registry, SnapshotError
from fhirsvc.validation import Validator
from fhirsvc.validation.definitions import Definitions

CORE = "http://hl7.org/fhir/StructureDefinition/"


def sd(url, rtype="Patient", elements=None, base=None):
    return {"resourceType": "StructureDefinition", "url": url, "type": rtype,
            "kind": "resource", "derivation": "constraint", "baseDefinition": base or CORE + rtype,
            "differential": {"element": elements or [{"path": f"{rtype}.id", "min": 0}]}}


def guide(tmp_path, files: dict) -> "Path":  # noqa: F821
    res = tmp_path / "fsh-generated" / "resources"
    res.mkdir(parents=True)
    for name, content in files.items():
        (res / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return tmp_path


# ---- failures stop the load and name the file
def test_guide_file_that_is_not_json_names_the_file(tmp_path):
    root = guide(tmp_path, {"StructureDefinition-a.json": json.dumps(sd("http://x/a")),
                            "StructureDefinition-b.json": '{"resourceType": "Structure'})
    reg = Registry()
    before = reg.state
    with pytest.raises(DefinitionsError) as exc:
        reg.load_guide(root)
    assert "StructureDefinition-b.json" in str(exc.value) and "not valid JSON" in str(exc.value)
    assert reg.state is before  # nothing of the failed load is published
    assert reg.sd("http://x/a") is None


def test_guide_profile_whose_snapshot_fails_names_file_and_reason(tmp_path):
    bad = sd("http://x/bad", elements=[{"path": "Patient.nonsense", "min": 1}])
    root = guide(tmp_path, {"StructureDefinition-bad.json": bad})
    reg = Registry()
    with pytest.raises(DefinitionsError) as exc:
        reg.load_guide(root)
    msg = str(exc.value)
    assert "StructureDefinition-bad.json" in msg and "http://x/bad" in msg
    assert "Patient.nonsense" in msg and "matches nothing" in msg
    assert reg.sd("http://x/bad") is None


def test_guide_profile_on_a_broken_base_names_both(tmp_path):
    base = sd("http://x/base", elements=[{"path": "Patient.nonsense", "min": 1}])
    child = sd("http://x/child", base="http://x/base")
    root = guide(tmp_path, {"a-base.json": base, "b-child.json": child})
    with pytest.raises(DefinitionsError) as exc:
        Registry().load_guide(root)
    assert "a-base.json" in str(exc.value)  # the first one loaded that fails


def test_guide_description_that_is_broken_names_the_file(tmp_path):
    root = guide(tmp_path, {})
    (root / "guide.json").write_text("{not json")
    with pytest.raises(DefinitionsError) as exc:
        Registry().load_guide(root)
    assert "guide.json" in str(exc.value)


def test_json_that_is_not_a_resource_names_the_file(tmp_path):
    root = guide(tmp_path, {"notes.json": '["a", "b"]'})
    with pytest.raises(DefinitionsError) as exc:
        Registry().load_guide(root)
    assert "notes.json" in str(exc.value) and "not a FHIR resource" in str(exc.value)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(DefinitionsError) as exc:
        Registry().load_path(tmp_path / "nowhere.json")
    assert "nowhere.json" in str(exc.value)


def test_default_registry_does_not_swallow_a_broken_guide(tmp_path, monkeypatch):
    root = guide(tmp_path / "profiles", {"x.json": "{"})
    monkeypatch.setattr(registry_module, "REPO_ROOT", root.parent)
    monkeypatch.setattr(registry_module, "_default", None)
    with pytest.raises(DefinitionsError):
        registry_module.default_registry()
    assert registry_module._default is None


def test_snapshot_failure_of_a_definition_added_later_is_kept_for_validation():
    reg = Registry()
    assert reg.add(sd("http://x/bad", elements=[{"path": "Patient.nonsense", "min": 1}]))
    with pytest.raises(SnapshotError) as exc:
        reg.snapshot("http://x/bad")
    assert exc.value.url == "http://x/bad" and "Patient.nonsense" in exc.value.reason
    with pytest.raises(SnapshotError):  # recorded: not regenerated, still raised
        reg.snapshot("http://x/bad")
    issues = Validator(registry=reg).validate({"resourceType": "Patient"}, ["http://x/bad"])
    err = [i for i in issues if i.is_error]
    assert len(err) == 1 and err[0].code == "invalid" and err[0].expression == ("Patient",)
    assert "Profile http://x/bad cannot be used" in err[0].message
    assert "Patient.nonsense" in err[0].message


# ---- copy-on-write generations
def test_add_publishes_a_new_state_and_leaves_the_old_one_alone():
    reg = Registry()
    old = reg.state
    reg.add(sd("http://x/a"))
    new = reg.state
    assert new is not old and new.generation == old.generation + 1
    assert old.sd("http://x/a") is None and new.sd("http://x/a") is not None
    assert old.sds is not new.sds and old.cs is new.cs  # only the changed index is copied


def test_compiled_definitions_belong_to_their_generation():
    reg = Registry()
    s0 = reg.state
    reg.add({"resourceType": "ValueSet", "url": "http://x/vs", "status": "active",
             "compose": {"include": [{"system": "http://x/cs"}]}})
    s1 = reg.state
    # a ValueSet changes no structure: the compiled profiles are kept
    assert Definitions.of(s1) is Definitions.of(s0)
    assert s1.expansion("http://x/vs") is not None and s0.expansion("http://x/vs") is None
    reg.add(sd("http://x/a"))
    assert Definitions.of(reg.state) is not Definitions.of(s1)


def test_fork_is_independent():
    core = Registry()
    fork = core.fork()
    fork.add(sd("http://x/a"))
    assert fork.sd("http://x/a") and core.sd("http://x/a") is None


def test_guide_profiles_are_a_new_generation():
    reg = Registry()
    g = reg.generation
    reg.set_guide_profiles({"Patient": ["http://x/a"]})
    assert reg.generation == g + 1 and reg.guide_profiles_by_type["Patient"] == ("http://x/a",)
    with pytest.raises(TypeError):  # a state is changed only by making the next one
        reg.guide_profiles_by_type["Patient"] = ("http://x/b",)


# ---- additions while other threads validate
PROFILE = sd("http://x/need-gender", elements=[{"path": "Patient.gender", "min": 1}])
BOUND = sd("http://x/bound-ms", elements=[{"path": "Patient.maritalStatus", "binding": {
    "strength": "required", "valueSet": "http://x/vs/ms"}}])
VS = {"resourceType": "ValueSet", "url": "http://x/vs/ms", "status": "active",
      "compose": {"include": [{"system": "http://x/cs/ms", "concept": [{"code": "a"}]}]}}
CASES = [
    ({"resourceType": "Patient"}, ["http://x/need-gender"]),
    ({"resourceType": "Patient", "gender": "male"}, ["http://x/need-gender"]),
    ({"resourceType": "Patient", "maritalStatus": {"coding": [
        {"system": "http://x/cs/ms", "code": "b"}]}}, ["http://x/bound-ms"]),
    ({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/1"},
      "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
      "valueQuantity": {"value": 60, "unit": "/min", "system": "http://unitsofmeasure.org",
                        "code": "/min"}}, []),
]


def _key(issues):
    return [(i.severity, i.code, i.expression, i.message) for i in issues]


def test_validating_while_another_thread_adds_definitions():
    reg = Registry()
    reg.add_all([PROFILE, BOUND, VS])
    v = Validator(registry=reg)
    want = [_key(v.validate(r, p)) for r, p in CASES]
    assert any(want[0]) and not [i for i in want[1] if i[0] == "error"] and any(want[2])
    failures: list = []
    stop = threading.Event()

    def writer():
        try:
            i = 0
            while not stop.is_set() and i < 400:
                # unrelated profiles and value sets, and the same ones again: each a new
                # generation, whose snapshots, expansions and compiled profiles start empty
                reg.add(sd(f"http://x/other-{i}", elements=[{"path": "Patient.name", "min": 1}]))
                reg.add({"resourceType": "ValueSet", "url": f"http://x/vs/other-{i}",
                         "status": "active", "compose": {"include": [{"system": "http://x/cs"}]}})
                reg.add_all([PROFILE, BOUND, VS])
                i += 1
        except Exception as exc:  # pragma: no cover - a failure is what the test looks for
            failures.append(("writer", repr(exc)))

    def reader(n):
        try:
            for k in range(60):
                r, p = CASES[(n + k) % len(CASES)]
                got = _key(v.validate(r, p))
                if got != want[(n + k) % len(CASES)]:
                    failures.append(("wrong result", r, got))
        except Exception as exc:  # pragma: no cover
            failures.append(("reader", repr(exc)))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so the interleavings happen
    try:
        w = threading.Thread(target=writer)
        readers = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
        w.start()
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        stop.set()
        w.join()
    finally:
        sys.setswitchinterval(old)
    assert reg.generation > 3
    assert failures == []


def test_broken_profile_inside_a_bundle_file_names_the_file(tmp_path):
    bad = sd("http://x/bad", elements=[{"path": "Patient.nonsense", "min": 1}])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bad}]}
    (tmp_path / "defs.json").write_text(json.dumps(bundle))
    with pytest.raises(DefinitionsError) as exc:
        Registry().load_path(tmp_path / "defs.json")
    assert "defs.json" in str(exc.value) and "http://x/bad" in str(exc.value)


def test_definition_the_indexes_cannot_take_names_the_file(tmp_path):
    odd = dict(sd("http://x/odd"), snapshot={"element": ["not an element"]})
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    with pytest.raises(DefinitionsError) as exc:
        Registry().load_path(tmp_path / "odd.json")
    assert "odd.json" in str(exc.value) and "cannot be indexed" in str(exc.value)
