"""The validate CLI (json lines, exit codes) and the conformance runner's targets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirsvc import validate_cli

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


def test_cli_json_lines_and_exit_status(tmp_path, capsys):
    good = _write(tmp_path, "good.json", {"resourceType": "Patient", "gender": "male"})
    bad = _write(tmp_path, "bad.json", {"resourceType": "Patient", "gender": "x"})
    assert validate_cli.main(["--output", "json", good]) == 0
    assert validate_cli.main(["--output", "json", good, bad]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    last = [json.loads(x) for x in lines[-2:]]
    assert [x["file"] for x in last] == [good, bad]
    assert last[1]["outcome"]["resourceType"] == "OperationOutcome"


def test_cli_syntax_error_and_usage(tmp_path, capsys):
    broken = _write(tmp_path, "broken.json", '{"resourceType": "Patient",')
    assert validate_cli.main([broken]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert validate_cli.main(["--no-such-option", broken]) == 2
    assert validate_cli.main([]) == 2


def test_cli_ig_and_profile(tmp_path):
    sd = {"resourceType": "StructureDefinition", "url": "http://x/sd/p", "type": "Patient",
          "kind": "resource", "derivation": "constraint",
          "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
          "differential": {"element": [{"path": "Patient.gender", "min": 1}]}}
    ig = _write(tmp_path, "sd.json", sd)
    pat = _write(tmp_path, "p.json", {"resourceType": "Patient"})
    assert validate_cli.main([pat]) == 0
    assert validate_cli.main(["--ig", ig, "--profile", "http://x/sd/p", pat]) == 1


@pytest.mark.skipif(not (SHARED / "fhir-test-cases" / "index.json").is_file(),
                    reason="shared conformance material not present")
def test_conformance_targets(capsys):
    from tools import conformance
    assert conformance.main(["--shared", str(SHARED)]) == 0
    assert "TARGETS MET" in capsys.readouterr().out


def test_cli_broken_ig_stops_with_the_file_named(tmp_path, capsys):
    bad = _write(tmp_path, "broken-sd.json", '{"resourceType": "StructureDefinition",')
    pat = _write(tmp_path, "p.json", {"resourceType": "Patient"})
    assert validate_cli.main(["--ig", bad, pat]) == 2
    err = capsys.readouterr().err
    assert "broken-sd.json" in err and "not valid JSON" in err
    unsnapshottable = _write(tmp_path, "sd.json", {
        "resourceType": "StructureDefinition", "url": "http://x/sd/bad", "type": "Patient",
        "kind": "resource", "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {"element": [{"path": "Patient.nonsense", "min": 1}]}})
    assert validate_cli.main(["--ig", unsnapshottable, pat]) == 2
    err = capsys.readouterr().err
    assert "sd.json" in err and "http://x/sd/bad" in err and "Patient.nonsense" in err


def test_cli_strict_is_per_run(tmp_path):
    pat = _write(tmp_path, "p.json", {"resourceType": "Patient",
                                      "meta": {"profile": ["http://example.org/unknown"]}})
    assert validate_cli.main([pat]) == 0
    assert validate_cli.main(["--strict", pat]) == 1
