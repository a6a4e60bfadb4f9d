"""Pieces of the exports that need no database: kick-off parameter parsing, the file store's
name check and resumable appends, the registry paths, and the layering rules."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fhirsvc.bulk.files import LocalFileStore, check_name
from fhirsvc.bulk.request import from_parameters, parse_instant, parse_kickoff
from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.registry.dataset import get_path, parse_path, set_path

PKG = Path(__file__).resolve().parents[2] / "fhirsvc"


def test_type_filters_split_on_types_not_on_or_commas():
    p = parse_kickoff([("_typeFilter", "Observation?code=a,b&status=final,Condition?"
                                       "clinical-status=active")], strict=False, level="system")
    assert p.type_filters == ["Observation?code=a,b&status=final",
                              "Condition?clinical-status=active"]


def test_unknown_parameters_and_values_warn_or_fail_under_strict():
    p = parse_kickoff([("_count", "5"), ("includeAssociatedData", "_custom,"
                                       "LatestProvenanceResources")], strict=False,
                      level="patient")
    assert p.associated == "latest"
    assert len(p.warnings) == 2 and "_count" in p.warnings[0] and "_custom" in p.warnings[1]
    for pairs in ([("_count", "5")], [("includeAssociatedData", "_custom")]):
        with pytest.raises(OperationOutcomeError) as exc:
            parse_kickoff(pairs, strict=True, level="system")
        assert exc.value.status == 400


def test_elements_associated_data_and_partial_manifests_are_parsed():
    p = parse_kickoff([("_elements", "id,Patient.birthDate"), ("_elements", "status"),
                       ("includeAssociatedData", "LatestProvenanceResources,"
                                                 "RelevantProvenanceResources"),
                       ("allowPartialManifests", "true")], strict=True, level="system")
    assert p.elements == [(None, "id"), ("Patient", "birthDate"), (None, "status")]
    assert p.associated == "relevant"  # the least restrictive of conflicting values
    assert p.allow_partial_manifests and not p.warnings
    for bad in ("Patient.name.given", "Nope.id", "name[0]"):
        with pytest.raises(OperationOutcomeError) as exc:
            parse_kickoff([("_elements", bad)], strict=False, level="system")
        assert exc.value.status == 400 and bad in exc.value.issues[0].message


def test_organize_output_by_is_refused_whatever_the_handling():
    for strict in (True, False):
        with pytest.raises(OperationOutcomeError) as exc:
            parse_kickoff([("organizeOutputBy", "Patient")], strict=strict, level="system")
        assert exc.value.status == 400 and "organizeOutputBy" in exc.value.issues[0].message
    with pytest.raises(OperationOutcomeError):
        parse_kickoff([("allowPartialManifests", "maybe")], strict=False, level="system")


def test_patient_parameter_and_parameters_body():
    pairs = from_parameters({"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Patient"},
        {"name": "patient", "valueReference": {"reference": "Patient/p1"}}]})
    assert pairs == [("_type", "Patient"), ("patient", "Patient/p1")]
    assert parse_kickoff(pairs, strict=False, level="patient").patients == ["p1"]
    with pytest.raises(OperationOutcomeError):
        parse_kickoff(pairs, strict=False, level="system")
    with pytest.raises(OperationOutcomeError):
        from_parameters({"resourceType": "Patient"})


def test_instants():
    assert parse_instant("2024-01-01", "_since") == parse_instant("2024-01-01T00:00:00Z", "x")
    for bad in ("2024-01-01T10:00:00", "yesterday"):
        with pytest.raises(OperationOutcomeError):
            parse_instant(bad, "_since")


def test_file_names_cannot_leave_the_job_folder(tmp_path):
    for bad in ("../x", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(ValueError):
            check_name(bad)
    store = LocalFileStore(tmp_path)
    with store.append(1, "Patient.ndjson", 0) as out:
        out.write(b"one\ntwo\n")
        kept = out.offset
        out.write(b"half a li")
    with store.append(1, "Patient.ndjson", kept) as out:  # a resumed attempt
        out.write(b"three\n")
    assert b"".join(store.read(1, "Patient.ndjson")) == b"one\ntwo\nthree\n"
    store.remove(1)
    assert store.size(1, "Patient.ndjson") is None


def test_registry_paths_read_what_they_write():
    path = "extension('http://x/range').extension('start').valueCodeableConcept"
    assert parse_path(path) == [("ext", "http://x/range"), ("ext", "start"),
                                ("member", "valueCodeableConcept")]
    res: dict = {}
    set_path(res, path, {"coding": [{"code": "T4"}]})
    set_path(res, "bodySite.extension('http://x/lat').valueCodeableConcept", {"text": "L"})
    set_path(res, "bodySite", {"coding": [{"code": "m"}]})  # merged, not replaced
    assert get_path(res, path) == {"coding": [{"code": "T4"}]}
    assert res["bodySite"]["extension"][0]["valueCodeableConcept"] == {"text": "L"}
    assert res["bodySite"]["coding"] == [{"code": "m"}]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_layers():
    """No SQLAlchemy outside storage; no Flask in services, jobs, bulk or registry."""
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        mods = _imports(path)
        if rel[0] != "storage":
            assert "sqlalchemy" not in mods, path
        if rel[0] in ("services", "jobs", "bulk", "registry"):
            assert "flask" not in mods and "werkzeug" not in mods, path
