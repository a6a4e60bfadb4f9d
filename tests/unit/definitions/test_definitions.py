"""Definitions: the compact core file, the registry, value set expansion, snapshots."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fhirsvc.definitions.registry import DATA, Registry
from fhirsvc.definitions.snapshot import _derive_ids
from fhirsvc.definitions.terminology import compact_cs, expand_valueset

CORE = "http://hl7.org/fhir/StructureDefinition/"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def reg():
    return Registry()


def test_compact_file_is_small():
    # Load time is a benchmark figure (bench/bench_validation.py: CLI start-up), not a timed
    # unit test: a busy CI machine must not fail the suite.
    assert DATA.stat().st_size < 3 * 1024 * 1024


def test_core_definitions_present(reg):
    obs = reg.sd(CORE + "Observation")
    ids = {e["id"]: e for e in obs["elements"]}
    assert ids["Observation.status"]["min"] == 1
    assert ids["Observation.status"]["binding"]["strength"] == "required"
    assert any(c["key"] == "obs-6" for c in ids["Observation"]["constraint"])
    assert {t["code"] for t in ids["Observation.value[x]"]["type"]} >= {"Quantity", "string"}
    assert ids["Observation.subject"]["type"][0]["targetProfile"]
    assert reg.sd(CORE + "vitalsigns")["derivation"] == "constraint"
    assert reg.sd(CORE + "patient-birthPlace")["context"]


def test_resource_id_type_is_fhir_type(reg):
    ids = {e["id"]: e for e in reg.sd(CORE + "Patient")["elements"]}
    assert ids["Patient.id"]["type"][0]["code"] == "string"


def test_required_valueset_expanded(reg):
    exp = reg.expansion("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1")
    assert exp["codes"]["http://hl7.org/fhir/administrative-gender"] >= {"male", "female"}
    assert not exp["open"]


def test_valueset_with_external_system_is_open(reg):
    exp = reg.expansion("http://hl7.org/fhir/ValueSet/observation-vitalsignresult")
    assert exp is None or "http://loinc.org" in exp["open"] or exp["codes"].get("http://loinc.org")


def test_expand_is_a_filter_and_exclude():
    cs = compact_cs({"url": "http://x/cs", "content": "complete", "concept": [
        {"code": "a", "concept": [{"code": "b"}, {"code": "c"}]}, {"code": "d"}]})
    vss = {"http://x/vs": {"url": "http://x/vs", "compose": {
        "include": [{"system": "http://x/cs", "filter": [{"property": "concept", "op": "is-a", "value": "a"}]}],
        "exclude": [{"system": "http://x/cs", "concept": [{"code": "c"}]}]}}}
    exp = expand_valueset("http://x/vs", vss, {"http://x/cs": cs})
    assert exp["codes"] == {"http://x/cs": ["a", "b"]}


def test_codesystem_codes_include_nested(reg):
    cs = reg.codesystem("http://terminology.hl7.org/CodeSystem/v3-ActCode")
    assert "AMB" in cs["_set"]


def test_registry_add_runtime_resources():
    r = Registry()
    g0 = r.generation
    r.add({"resourceType": "CodeSystem", "url": "http://x/cs", "content": "complete",
           "concept": [{"code": "k"}]})
    r.add({"resourceType": "ValueSet", "url": "http://x/vs", "version": "1",
           "compose": {"include": [{"system": "http://x/cs"}]}})
    assert r.generation > g0
    assert r.expansion("http://x/vs|1")["codes"]["http://x/cs"] == {"k"}
    assert r.codesystem("http://x/cs")


def test_load_npm_package_tgz(tmp_path):
    sd = {"resourceType": "StructureDefinition", "url": "http://x/sd/p", "type": "Patient",
          "kind": "resource", "derivation": "constraint", "baseDefinition": CORE + "Patient",
          "differential": {"element": [{"path": "Patient.name", "min": 1}]}}
    tgz = tmp_path / "p.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        for name, obj in (("package/package.json", {"name": "x"}),
                          ("package/StructureDefinition-p.json", sd)):
            data = json.dumps(obj).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    r = Registry()
    assert r.load_path(tgz) == 1
    assert r.snapshot("http://x/sd/p")


def test_snapshot_from_differential_with_slices_and_children(reg):
    r = Registry()
    r.add({"resourceType": "StructureDefinition", "url": "http://x/sd/s", "type": "Observation",
           "kind": "resource", "derivation": "constraint", "baseDefinition": CORE + "Observation",
           "differential": {"element": [
               {"id": "Observation.component", "path": "Observation.component",
                "slicing": {"discriminator": [{"type": "pattern", "path": "code"}], "rules": "open"}},
               {"id": "Observation.component:a", "path": "Observation.component", "sliceName": "a", "min": 1},
               {"id": "Observation.component:a.code", "path": "Observation.component.code",
                "patternCodeableConcept": {"text": "a"}},
               {"id": "Observation.code.coding", "path": "Observation.code.coding", "min": 1}]}})
    snap = {e["id"]: e for e in r.snapshot("http://x/sd/s")}
    assert snap["Observation.component:a"]["sliceName"] == "a"
    assert snap["Observation.component:a.code"]["patternCodeableConcept"] == {"text": "a"}
    # children unfolded from the type (CodeableConcept) to constrain code.coding
    assert snap["Observation.code.coding"]["min"] == 1
    assert "Observation.code.text" in snap
    # the base keeps its rules
    assert snap["Observation.status"]["min"] == 1


def test_snapshot_profile_of_profile_and_renamed_choice():
    r = Registry()
    r.add({"resourceType": "StructureDefinition", "url": "http://x/sd/a", "type": "Observation",
           "kind": "resource", "derivation": "constraint", "baseDefinition": CORE + "Observation",
           "differential": {"element": [{"path": "Observation.subject", "min": 1}]}})
    r.add({"resourceType": "StructureDefinition", "url": "http://x/sd/b", "type": "Observation",
           "kind": "resource", "derivation": "constraint", "baseDefinition": "http://x/sd/a",
           "differential": {"element": [
               {"path": "Observation.valueQuantity", "min": 1},
               {"path": "Observation.valueQuantity.unit", "min": 1}]}})
    snap = {e["id"]: e for e in r.snapshot("http://x/sd/b")}
    assert snap["Observation.subject"]["min"] == 1
    assert snap["Observation.value[x]"]["min"] == 1
    assert [t["code"] for t in snap["Observation.value[x]"]["type"]] == ["Quantity"]
    assert snap["Observation.value[x].unit"]["min"] == 1


def test_ids_derived_from_paths_with_slices():
    out = _derive_ids([{"path": "Patient.identifier", "slicing": {}},
                       {"path": "Patient.identifier", "sliceName": "mrn"},
                       {"path": "Patient.identifier.system"},
                       {"path": "Patient.name"}])
    assert [e["id"] for e in out] == ["Patient.identifier", "Patient.identifier:mrn",
                                      "Patient.identifier:mrn.system", "Patient.name"]


def test_generator_is_reproducible(tmp_path):
    pkg = ROOT / ".cache" / "hl7.fhir.r4.core" / "package"
    if not pkg.is_dir():
        pytest.skip("R4 core package not fetched (scripts/fetch_r4core.py)")
    before = DATA.read_bytes()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_definitions.py"), str(pkg)],
                   check=True, capture_output=True)
    assert DATA.read_bytes() == before
