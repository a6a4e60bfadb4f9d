"""The reference validator's run settings (run.Options) the test cases state per case:
validateContains (contained resources validated or skipped) and validateReference (relative
references must resolve inside the resource, bundle or Parameters)."""
from __future__ import annotations

import subprocess
import sys
import json

import pytest

from fhirsvc.validation import Validator


def errors(issues):
    return [(i.expression[0] if i.expression else None, i.message) for i in issues
            if i.severity in ("error", "fatal")]


CONDITION = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
             "contained": [{"resourceType": "Practitioner", "id": "x" * 65}]}


def test_validate_contains_check_valid_is_the_default():
    got = errors(Validator().validate(CONDITION))
    assert ("Condition.contained[0].id", "Invalid Resource id: Too long (65 chars)") in got
    assert any(m.startswith("Constraint failed: dom-3") for _, m in got)


def test_validate_contains_ignore_skips_contained_resources_and_dom3():
    assert errors(Validator(validate_contains="IGNORE").validate(CONDITION)) == []


def test_options_are_checked():
    with pytest.raises(ValueError):
        Validator(validate_contains="CHECK_TYPE_MAYBE")
    with pytest.raises(ValueError):
        Validator(validate_reference="FETCH")


def params(ref):
    return {"resourceType": "Parameters", "parameter": [
        {"name": "p", "resource": {"resourceType": "Patient", "id": "1"}},
        {"name": "c", "part": [{"name": "cov", "resource": {
            "resourceType": "Coverage", "status": "active", "payor": [{"display": "x"}],
            "beneficiary": {"reference": ref}}}]}]}


def test_validate_reference_ignore_checks_form_only():
    assert errors(Validator().validate(params("Patient/2"))) == []


def test_validate_reference_check_exists_resolves_in_parameters():
    v = Validator(validate_reference="CHECK_EXISTS_AND_TYPE")
    assert errors(v.validate(params("Patient/1"))) == []
    assert errors(v.validate(params("Patient/2"))) == [
        ("Parameters.parameter[1].part[0].resource.beneficiary",
         "Unable to resolve resource with reference 'Patient/2'")]


def test_validate_reference_check_exists_outside_parameters():
    v = Validator(validate_reference="CHECK_EXISTS")
    got = errors(v.validate({"resourceType": "Observation", "status": "final",
                             "code": {"text": "x"}, "subject": {"reference": "Patient/9"}}))
    assert got == [("Observation.subject", "Unable to resolve resource with reference 'Patient/9'")]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x.org/fhir/Patient/9", "resource": {"resourceType": "Patient", "id": "9"}},
        {"fullUrl": "http://x.org/fhir/Observation/1", "resource": {
            "resourceType": "Observation", "id": "1", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/9"}}}]}
    assert errors(v.validate(bundle)) == []


def test_cli_options(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps(CONDITION))
    base = [sys.executable, "-m", "fhirsvc", "validate", str(f)]
    assert subprocess.run(base, capture_output=True).returncode == 1
    assert subprocess.run(base + ["--validate-contains", "IGNORE"],
                          capture_output=True).returncode == 0
