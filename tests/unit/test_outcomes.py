from fhirsvc.outcomes import (Issue, OperationOutcomeError, error, operation_outcome,
                              sort_issues, status_for, warning)


def test_issue_to_fhir_carries_location_and_rule():
    i = error("invariant", "Constraint failed: per-1", "Encounter.period", source="per-1")
    out = i.to_fhir()
    assert out["expression"] == ["Encounter.period"]
    assert out["details"]["text"] == "Constraint failed: per-1"
    assert out["extension"][0]["valueString"] == "per-1"


def test_prefixed_moves_issue_into_bundle_entry():
    i = error("value", "bad", "Patient.birthDate")
    assert i.prefixed("Bundle.entry[3].resource", strip="Patient").expression == (
        "Bundle.entry[3].resource.birthDate",)
    assert error("value", "bad", "Patient").prefixed(
        "Bundle.entry[0].resource", strip="Patient").expression == ("Bundle.entry[0].resource",)


def test_status_mapping():
    assert status_for([error("not-found", "x")]) == 404
    assert status_for([warning("value", "x")]) == 200
    assert status_for([error("invariant", "x")]) == 422
    assert OperationOutcomeError(error("deleted", "gone")).status == 410


def test_empty_outcome_is_informational_and_sorting_is_stable():
    assert operation_outcome([])["issue"][0]["severity"] == "information"
    issues = [warning("value", "b", "X.b"), error("value", "a", "X.a"), Issue("fatal", "x", "f")]
    assert [i.severity for i in sort_issues(issues)] == ["fatal", "error", "warning"]
