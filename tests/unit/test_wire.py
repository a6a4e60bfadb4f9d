"""The one JSON parser and the one answer for unknown types, bad ids and versions."""
import pytest

from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.wire import JsonSyntaxError, check_id, check_type, decode_json, parse_json, parse_version


@pytest.mark.parametrize("raw", [b'{\n "name": "M\xc3\xbcller",\n "x": }',
                                 '{\n "name": "Müller",\n "x": }'])
def test_syntax_errors_are_located_by_line_and_column(raw):
    with pytest.raises(JsonSyntaxError) as exc:
        decode_json(raw)
    assert (exc.value.line, exc.value.column) == (3, 7)
    with pytest.raises(OperationOutcomeError) as http:
        parse_json(raw)
    assert http.value.status == 400 and "line 3, column 7" in http.value.issues[0].message


def test_validator_reports_the_same_position():
    from fhirsvc.validation.parse import parse_json as validator_parse
    resource, issues = validator_parse(b'{\n "resourceType": "Patient",\n "x": }')
    assert resource is None and issues[0].severity == "fatal"
    assert "line 3, column 7" in issues[0].message


def test_type_id_and_version_checks():
    with pytest.raises(OperationOutcomeError) as exc:
        check_type("Patients", "Bundle.entry[0].request.url")
    assert (exc.value.status, exc.value.issues[0].code) == (404, "not-supported")
    assert exc.value.issues[0].expression == ("Bundle.entry[0].request.url",)
    assert check_id("a-1.B") == "a-1.B"
    for bad in ("", "x" * 65, "a/b", "a b", 7):
        with pytest.raises(OperationOutcomeError):
            check_id(bad)
    assert parse_version('W/"3"') == 3 and parse_version('"4"') == 4 and parse_version(None) is None
    with pytest.raises(OperationOutcomeError) as exc:
        parse_version("W/three")
    assert exc.value.status == 400
