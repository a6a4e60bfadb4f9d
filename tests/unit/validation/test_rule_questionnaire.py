"""The QuestionnaireResponse rule (rules/questionnaire.py) and the UCUM helper (rules/units.py)."""
from __future__ import annotations

import pytest

from fhirsvc.definitions.registry import Registry
from fhirsvc.validation import Validator
from fhirsvc.validation.rules.units import compare_quantities, is_ucum

Q = "http://x/q/"
EXT = "http://hl7.org/fhir/StructureDefinition/"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
UCUM = "http://unitsofmeasure.org"


def _q(name, items):
    return {"resourceType": "Questionnaire", "url": Q + name, "version": "1.0",
            "status": "active", "item": items}


QUESTIONNAIRES = [
    _q("str", [{"linkId": "s", "type": "string", "required": True,
                "extension": [{"url": EXT + "regex", "valueString": r"\d+"}]},
               {"linkId": "n", "type": "integer", "repeats": True,
                "answerOption": [{"valueInteger": 1}, {"valueInteger": 2}]},
               {"linkId": "d", "type": "display"},
               {"linkId": "g", "type": "group", "item": [
                   {"linkId": "g1", "type": "boolean", "required": True}]},
               {"linkId": "later", "type": "string", "required": True,
                "enableWhen": [{"question": "s", "operator": "=", "answerString": "42"}]}]),
    _q("qty", [{"linkId": "w", "type": "quantity", "extension": [
        {"url": SDC + "sdc-questionnaire-minQuantity",
         "valueQuantity": {"value": 1, "system": UCUM, "code": "km"}},
        {"url": EXT + "questionnaire-unitOption",
         "valueCoding": {"system": UCUM, "code": "m"}}]}]),
]


@pytest.fixture(scope="module")
def v():
    reg = Registry()
    reg.add_all(QUESTIONNAIRES)
    return Validator(registry=reg)


def errors(issues):
    return [(i.expression[0] if i.expression else None, i.message) for i in issues
            if i.severity in ("error", "fatal")]


def qr(name, items, status="completed"):
    return {"resourceType": "QuestionnaireResponse", "questionnaire": Q + name + "|1.0",
            "status": status, "item": items}


GOOD = [{"linkId": "s", "answer": [{"valueString": "7"}]},
        {"linkId": "n", "answer": [{"valueInteger": 1}, {"valueInteger": 2}]},
        {"linkId": "g", "item": [{"linkId": "g1", "answer": [{"valueBoolean": True}]}]}]


def test_a_good_response_is_clean(v):
    assert errors(v.validate(qr("str", GOOD))) == []


def test_unknown_questionnaire_is_not_an_error(v):
    r = qr("str", GOOD)
    r["questionnaire"] = "http://x/q/unknown"
    assert errors(v.validate(r)) == []


def test_required_item_missing_only_when_completed(v):
    items = GOOD[1:]
    assert errors(v.validate(qr("str", items))) == [
        ("QuestionnaireResponse", "No response answer found for required item 's'")]
    assert errors(v.validate(qr("str", items, status="in-progress"))) == []


def test_required_item_not_enabled_is_not_required_and_enabled_is(v):
    items = [dict(GOOD[0], answer=[{"valueString": "42"}])] + GOOD[1:]
    assert errors(v.validate(qr("str", items))) == [
        ("QuestionnaireResponse", "No response answer found for required item 'later'")]


def test_answer_type_must_match_item_type(v):
    items = [{"linkId": "s", "answer": [{"valueCoding": {"code": "x"}}]}] + GOOD[1:]
    assert errors(v.validate(qr("str", items))) == [
        ("QuestionnaireResponse.item[0].answer[0].value.ofType(Coding)",
         "Answer value must be of the type string not Coding")]


def test_regex_answer_option_display_group(v):
    items = [{"linkId": "s", "answer": [{"valueString": "abc"}]},
             {"linkId": "n", "answer": [{"valueInteger": 3}]},
             {"linkId": "d", "answer": [{"valueString": "no"}]},
             {"linkId": "g", "answer": [{"valueString": "no"}]}]
    got = errors(v.validate(qr("str", items)))
    assert ("QuestionnaireResponse.item[0].answer[0].value.ofType(string)",
            "The answer 'abc' does not conform to the expected format (regex '\\d+')") in got
    assert any("The integer 3 is not in the set of permitted values" in m for _, m in got)
    assert ("QuestionnaireResponse.item[2]", "Items of type 'display' cannot have answers") in got
    assert any(loc == "QuestionnaireResponse.item[3]" and "group should not have answers" in m
               for loc, m in got)
    # the group's required item is missing too (answers inside a group's answer do not count)
    assert ("QuestionnaireResponse.item[3]",
            "No response answer found for required item 'g1'") in got


def test_one_answer_unless_repeats(v):
    items = [{"linkId": "s", "answer": [{"valueString": "1"}, {"valueString": "2"}]}] + GOOD[1:]
    assert [m for _, m in errors(v.validate(qr("str", items)))] == [
        "Only one answer is allowed for item 's' (repeats is not true)"]


def test_quantity_limits_and_units(v):
    ok = qr("qty", [{"linkId": "w", "answer": [{"valueQuantity": {
        "value": 2000, "system": UCUM, "code": "m"}}]}])
    assert errors(v.validate(ok)) == []
    small = qr("qty", [{"linkId": "w", "answer": [{"valueQuantity": {
        "value": 20, "system": UCUM, "code": "m"}}]}])
    assert [m for _, m in errors(v.validate(small))] == [
        "The quantity 20 m is less than the allowed minimum of 1 km"]
    wrong = qr("qty", [{"linkId": "w", "answer": [{"valueQuantity": {
        "value": 20, "system": UCUM, "code": "kg"}}]}])
    got = [m for _, m in errors(v.validate(wrong))]
    assert sorted(got) == [
        "The quantity 20 kg cannot be compared to the allowed minimum of 1 km (the units are "
        "not comparable)", "The value 20 kg has a unit that is not valid (allowed = m (m))"]


def test_ucum_units():
    assert is_ucum("mg/dL") and is_ucum("km") and is_ucum("mm[Hg]") and is_ucum("{score}")
    assert is_ucum("kg/m2") and is_ucum("/min") and is_ucum("10*9/L")
    assert not is_ucum("Kg") and not is_ucum("miles") and not is_ucum("mg dL")
    km = {"value": 1, "system": UCUM, "code": "km"}
    assert compare_quantities({"value": 999, "system": UCUM, "code": "m"}, km) == (-1, "")
    assert compare_quantities({"value": 1, "system": UCUM, "code": "[mi_i]"}, km) == (1, "")
    assert compare_quantities({"value": 1, "system": UCUM, "code": "kg"}, km)[0] is None
    assert compare_quantities({"value": 1, "unit": "km"}, km) == (
        None, "no formal units are specified")


# ---- answerValueSet (issue 15, second pass): codes of the value set; offline, systems we
# cannot enumerate are judged by their code syntax where it is fixed (ISO 3166, SNOMED CT)
def _qr_with(qtype, vs, *answers):
    from fhirsvc.definitions.registry import Registry
    from fhirsvc.validation import Validator
    reg = Registry()
    reg.add({"resourceType": "Questionnaire", "url": "http://x.org/q/avs", "status": "active",
             "item": [{"linkId": "q1", "type": qtype, "repeats": True, "answerValueSet": vs}]})
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": "http://x.org/q/avs",
          "status": "completed", "item": [{"linkId": "q1", "answer": list(answers)}]}
    return [(i.expression[0] if i.expression else None, i.message)
            for i in Validator(registry=reg).validate(qr) if i.severity == "error"]


def test_answer_valueset_string_answers():
    vs = "http://hl7.org/fhir/ValueSet/jurisdiction"
    assert _qr_with("string", vs, {"valueString": "AU"}, {"valueString": "AU-NSW"}) == []
    assert _qr_with("string", vs, {"valueString": "Australia"}) == [(
        "QuestionnaireResponse.item[0].answer[0].value.ofType(string)",
        f"The value 'Australia' is not in the list of allowed values (value set '{vs}')")]
    assert _qr_with("open-choice", vs, {"valueString": "Australia"}) == []


def test_answer_valueset_coding_answers():
    vs = "http://hl7.org/fhir/ValueSet/administrative-gender"
    ok = {"valueCoding": {"system": "http://hl7.org/fhir/administrative-gender", "code": "male"}}
    bad = {"valueCoding": {"system": "http://hl7.org/fhir/item-type", "code": "string"}}
    assert _qr_with("choice", vs, ok) == []
    got = _qr_with("choice", vs, ok, bad)
    assert got == [("QuestionnaireResponse.item[0].answer[1]", "The code 'string' in the system "
                    "'http://hl7.org/fhir/item-type' is not in the options value set "
                    f"({vs}) specified by the questionnaire")]
    # a value set including a system we cannot enumerate: only its syntax is judged
    sct = "http://hl7.org/fhir/ValueSet/clinical-findings"
    assert _qr_with("choice", sct, {"valueCoding": {"system": "http://snomed.info/sct",
                                                    "code": "404684003"}}) == []


def test_answer_valueset_coding_with_a_wrong_display():
    vs = "http://hl7.org/fhir/ValueSet/item-type"
    bad = {"valueCoding": {"system": "http://hl7.org/fhir/item-type", "code": "string",
                           "display": "Australia"}}
    got = _qr_with("choice", vs, bad)
    assert [w for w, _ in got] == ["QuestionnaireResponse.item[0].answer[0]",
                                   "QuestionnaireResponse.item[0].answer[0].valueCoding.display"]
    assert "Terminology Error: Wrong Display Name 'Australia'" in got[0][1]
