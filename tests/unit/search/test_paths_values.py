"""Pure code: expression compilation, value normalisation, index extraction."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fhirsvc.search import SearchRegistry
from fhirsvc.search.extract import extract, token_values
from fhirsvc.search.rows import ROW_TYPES
from fhirsvc.search.paths import compile_expression, parts_for_type, split_top
from fhirsvc.search.values import date_bounds, normalise, parse_reference, reference_version


@pytest.fixture(scope="module")
def reg():
    return SearchRegistry.load()


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1e6)


def test_split_and_parts():
    expr = "(Observation.value as Quantity) | Observation.component.where(code='x') | " \
           "Condition.code"
    assert len(split_top(expr, "|")) == 3
    assert parts_for_type(expr, "Observation") == ["(Observation.value as Quantity)",
                                                   "Observation.component.where(code='x')"]


@pytest.mark.parametrize("expr,resource,expected", [
    ("Observation.code", {"code": {"text": "a"}}, [{"text": "a"}]),
    ("(Observation.value as Quantity)", {"valueQuantity": {"value": 1}}, [{"value": 1}]),
    ("Observation.value.as(Quantity)", {"valueString": "x"}, []),
    ("Observation.effective", {"effectivePeriod": {"start": "2020"}}, [{"start": "2020"}]),
    ("Observation.subject.where(resolve() is Patient)",
     {"subject": {"reference": "Group/1"}}, []),
    ("Observation.subject.where(resolve() is Patient)",
     {"subject": {"reference": "Patient/1"}}, [{"reference": "Patient/1"}]),
    ("Patient.telecom.where(system='phone')",
     {"telecom": [{"system": "email", "value": "a"}, {"system": "phone", "value": "1"}]},
     [{"system": "phone", "value": "1"}]),
    ("Patient.extension('http://x').value",
     {"extension": [{"url": "http://x", "valueCode": "c"}, {"url": "http://y",
                                                            "valueCode": "d"}]}, ["c"]),
    ("Resource.meta.tag", {"meta": {"tag": [{"code": "t"}]}}, [{"code": "t"}]),
])
def test_walker(reg, expr, resource, expected):
    rtype = "Patient" if expr.startswith(("Patient", "Resource")) else "Observation"
    fn = compile_expression(expr, rtype, reg.choices)
    assert not getattr(fn, "fallback", False)
    assert [v for v, _t in fn(resource)] == expected


def test_fallback_to_fhirpathpy(reg):
    fn = compile_expression("Patient.deceased.exists() and Patient.deceased != false",
                            "Patient", reg.choices)
    assert getattr(fn, "fallback", False)
    assert [v for v, _t in fn({"resourceType": "Patient", "deceasedBoolean": True})] == [True]


@pytest.mark.parametrize("text,low,high", [
    ("2020", "2020-01-01T00:00:00", "2020-12-31T23:59:59.999999"),
    ("2020-02", "2020-02-01T00:00:00", "2020-02-29T23:59:59.999999"),
    ("2020-12-31", "2020-12-31T00:00:00", "2020-12-31T23:59:59.999999"),
    ("2020-06-01T10:00:00Z", "2020-06-01T10:00:00", "2020-06-01T10:00:00.999999"),
    ("2020-06-01T10:00:00+02:00", "2020-06-01T08:00:00", "2020-06-01T08:00:00.999999"),
    ("2020-06-01T10:00:00.5-01:00", "2020-06-01T11:00:00.5", "2020-06-01T11:00:00.599999"),
    ("2020-06-01T10:00Z", "2020-06-01T10:00:00", "2020-06-01T10:00:59.999999"),
])
def test_date_bounds(text, low, high):
    assert date_bounds(text) == (us(low), us(high))


@pytest.mark.parametrize("bad", ["notadate", "2020-13", "2020-02-30", "20", "2020-01-01T25:00Z"])
def test_date_bounds_invalid(bad):
    assert date_bounds(bad) is None


def test_normalise_and_references():
    assert normalise("Müller ÉLODIE") == "muller elodie"
    assert parse_reference("Patient/1/_history/2") == ("Patient", "1", None)
    assert parse_reference("http://x/fhir/Patient/1") == (None, None, "http://x/fhir/Patient/1")
    assert parse_reference("#contained") == (None, None, None)
    assert reference_version("Patient/1/_history/2") == "2"
    assert reference_version("http://x/fhir/Patient/1/_history/b.3") == "b.3"
    assert reference_version("Patient/1") is None and reference_version("Patient/1/_history/") \
        is None


def test_reference_rows_carry_the_version(reg):
    prov = {"resourceType": "Provenance", "recorded": "2024-01-01T00:00:00Z",
            "target": [{"reference": "Patient/p1/_history/2"}, {"reference": "Patient/p2"},
                       {"reference": "http://x/fhir/Patient/p3/_history/4"}],
            "agent": [{"who": {"reference": "Organization/o1"}}]}
    rows = [r for r in extract(reg, "Provenance", prov)["reference"] if r.param == "target"]
    assert sorted(rows, key=lambda r: r.target_id or r.url) == [
        ("target", None, None, "http://x/fhir/Patient/p3", "4"),
        ("target", "Patient", "p1", None, "2"), ("target", "Patient", "p2", None, None)]


def test_token_values():
    cc = {"coding": [{"system": "s", "code": "c", "display": "Déjà"}]}
    assert token_values(cc, None) == [("s", "c", "deja")]
    ident = {"system": "s", "value": "v", "type": {"coding": [{"system": "t", "code": "MR"}]}}
    assert token_values(ident, None) == [("s", "v", None), ("of-type", "t|MR", "v")]
    assert token_values(True, None) == [(None, "true", None)]


def test_extract_observation(reg):
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
           "subject": {"reference": "Patient/p1"},
           "effectiveDateTime": "2021-03-04",
           "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org",
                             "code": "mm[Hg]", "unit": "mmHg"}}
    rows = extract(reg, "Observation", obs)
    params = {(k, r.param) for k, rs in rows.items() for r in rs}
    for p in [("token", "code"), ("token", "status"), ("reference", "subject"),
              ("reference", "patient"), ("date", "date"), ("quantity", "value-quantity"),
              ("composite", "code-value-quantity")]:
        assert p in params
    assert all(type(r) is ROW_TYPES[k] for k, rs in rows.items() for r in rs)
    date_row = next(r for r in rows["date"] if r.param == "date")
    assert (date_row.low, date_row.high, date_row.wide, date_row.multi) == \
        (1614816000000000, 1614902399999999, 0, 0)  # a day is not wide
    assert [(r.system, r.code) for r in rows["token"] if r.param == "code"] == \
        [("http://loinc.org", "8480-6")]
    quantity = next(r for r in rows["quantity"] if r.param == "value-quantity")
    assert quantity == ("value-quantity", 120.0, "http://unitsofmeasure.org", "mm[Hg]", "mmHg")


def test_extract_flags_multi_valued_dates_and_identifier_types(reg):
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "effectiveTiming": {"event": ["2010-01", "2020-01-01T10:00:00Z"]}}
    dates = [r for r in extract(reg, "Observation", obs)["date"] if r.param == "date"]
    assert [(r.wide, r.multi) for r in dates] == [(1, 1), (0, 1)]
    pat = {"resourceType": "Patient", "identifier": [{
        "system": "http://hospital/mrn", "value": "42",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "MR"}]}}]}
    tokens = {r for r in extract(reg, "Patient", pat)["token"]
              if r.param.startswith("identifier")}
    assert tokens == {("identifier", "http://hospital/mrn", "42", None),
                      ("identifier:of-type",
                       "http://terminology.hl7.org/CodeSystem/v2-0203|MR", "42", None)}


def test_core_expressions_mostly_compile(reg):
    """Every core parameter of the clinical types compiles to the native walker except a few."""
    slow = []
    for rtype in ("Patient", "Observation", "Condition", "Encounter", "Procedure",
                  "MedicationRequest", "DiagnosticReport", "Practitioner", "Organization"):
        for comp in reg.compiled(rtype):
            if comp.extract is not None and getattr(comp.extract, "fallback", False):
                slow.append((rtype, comp.param.code))
    assert slow == [("Patient", "deceased")]


def test_nested_extension_value(reg):
    fn = compile_expression("Observation.bodySite.extension('http://x/range').extension.value",
                            "Observation", reg.choices)
    res = {"bodySite": {"extension": [{"url": "http://x/range", "extension": [
        {"url": "start", "valueCodeableConcept": {"text": "T3"}},
        {"url": "end", "valueCodeableConcept": {"text": "T4"}}]}]}}
    assert [(v, t) for v, t in fn(res)] == [({"text": "T3"}, "CodeableConcept"),
                                           ({"text": "T4"}, "CodeableConcept")]


def test_range_expansion_indexes_levels_between():
    reg = SearchRegistry.load(guide_dir=None)
    reg.add_valueset({"resourceType": "ValueSet", "url": "http://x/vs/levels", "compose": {
        "include": [{"system": "http://s", "concept": [{"code": c} for c in "ABCDEF"]}]}})
    reg.add({"resourceType": "SearchParameter", "url": "http://x/sp/level", "code": "level",
             "base": ["Observation"], "type": "token",
             "expression": "Observation.bodySite.extension('http://x/level').value | "
                           "Observation.bodySite.extension('http://x/range').extension.value",
             "extension": [{"url": "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/"
                                   "search-range-expansion",
                            "extension": [{"url": "rangeExtension", "valueUri": "http://x/range"},
                                          {"url": "order", "valueCanonical": "http://x/vs/levels"}]}]})
    obs = {"resourceType": "Observation", "bodySite": {"extension": [
        {"url": "http://x/range", "extension": [
            {"url": "start", "valueCodeableConcept": {"coding": [{"system": "http://s",
                                                                  "code": "E"}]}},
            {"url": "end", "valueCodeableConcept": {"coding": [{"system": "http://s",
                                                                "code": "B"}]}}]}]}}
    rows = extract(reg, "Observation", obs)["token"]
    assert sorted(r.code for r in rows if r.param == "level") == ["B", "C", "D", "E"]
