"""Parsing a search request into typed criteria: no database. Every malformed value is a 400
naming its parameter here, before storage is touched."""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.search import SearchRegistry
from fhirsvc.search import criteria as c
from fhirsvc.search.parse import SearchParser, number_match
from fhirsvc.search.values import DAY, date_bounds

BASE = "https://fhir.example/fhir"


@pytest.fixture(scope="module")
def parser():
    return SearchParser(SearchRegistry.load(), default_count=20, max_count=100)


def parse(parser, rtype, params, **kw) -> c.SearchQuery:
    return parser.parse(rtype, list(params), base_url=BASE, strict=kw.pop("strict", False), **kw)


def clauses(parser, rtype, params):
    return parse(parser, rtype, params).criteria.clauses


def one(parser, rtype, name, value):
    (clause,) = clauses(parser, rtype, [(name, value)])
    return clause


def test_tokens(parser):
    cl = one(parser, "Observation", "code", "http://loinc.org|8302-2,29463-7")
    assert cl == c.ParamClause("code", "token", "Observation", "code", (
        c.TokenMatch("http://loinc.org", "8302-2"),
        c.TokenMatch(None, "29463-7")))
    assert one(parser, "Observation", "code", "|8302-2").values == (c.TokenMatch("", "8302-2"),)
    assert one(parser, "Observation", "code", "http://loinc.org|").values == \
        (c.TokenMatch("http://loinc.org", None),)
    # an escaped bar belongs to the code (it was a 400 "Invalid token" before)
    assert one(parser, "Observation", "code", r"a\|b").values == (c.TokenMatch(None, "a|b"),)
    text = one(parser, "Condition", "code:text", "Heart Ättack")
    assert (text.modifier, text.values) == ("text", (c.TokenText("heart attack"),))
    negated = one(parser, "Observation", "status:not", "final")
    assert (negated.negate, negated.param) == (True, "status")
    of_type = one(parser, "Patient", "identifier:of-type", "http://sys|MR|123")
    assert (of_type.param, of_type.values) == ("identifier:of-type",
                                               (c.TokenOfType("http://sys|MR", "123"),))
    logical = one(parser, "Observation", "subject:identifier", "http://mrn|7")
    assert (logical.kind, logical.param) == ("token", "subject:identifier")


GENDER = "http://hl7.org/fhir/administrative-gender"


@pytest.mark.parametrize("rtype, name, system, lenient", [
    # primitive codes: the system is implied by the required binding, so system|code matches
    # them too, with that system only
    ("Patient", "gender", GENDER, True), ("Patient", "gender", "http://other", False),
    ("Observation", "status", "http://hl7.org/fhir/observation-status", True),
    ("Observation", "status", GENDER, False),
    ("Patient", "active", "http://any", True),    # a boolean: no binding, any system
    ("Patient", "deceased", "http://any", True),  # a FHIRPath fallback: its types unknown
    ("Group", "value", "http://any", True),       # CodeableConcept or boolean: the boolean
    # Identifier, CodeableConcept, Coding, ContactPoint: a given system is required
    ("Patient", "identifier", "http://sys", False), ("Observation", "code", "http://sys", False),
    ("Patient", "telecom", "http://sys", False), ("Patient", "_tag", "http://sys", False),
    ("Encounter", "identifier", "http://sys", False),
    ("Observation", "subject:identifier", "http://sys", False),
    # the guide's extension values: CodeableConcept, sub-extensions of a range too
    ("Condition", "laterality", "http://sys", False),
    ("Condition", "spinal-level", "http://sys", False),
])
def test_system_or_none_only_for_primitive_codes(parser, rtype, name, system, lenient):
    """issue: `identifier=sys|MRN` matched identifiers without a system (a conditional
    create or an HL7 v2 PID-3 could attach to another patient). A given system may be absent
    only on primitive codes (with their binding's system), decided per parameter from the
    StructureDefinitions."""
    (v,) = one(parser, rtype, name, f"{system}|x").values
    assert v == c.TokenMatch(system, "x", or_no_system=lenient)
    # without a system, or with none: unchanged
    assert one(parser, rtype, name, "x").values == (c.TokenMatch(None, "x"),)
    assert one(parser, rtype, name, "|x").values == (c.TokenMatch("", "x"),)


def test_dates_numbers_quantities(parser):
    (lo, hi) = date_bounds("2015")
    assert one(parser, "Observation", "date", "ge2015,lt2016").values == (
        c.DateMatch("ge", lo, hi), c.DateMatch("lt", *date_bounds("2016")))
    ap = one(parser, "Observation", "date", "ap2015-06-01,eq2015").values[0]
    assert ap.prefix == "ap" and ap.gap >= DAY
    (num,) = one(parser, "RiskAssessment", "probability", "0.25").values
    assert num == c.NumberMatch("eq", D("0.25"), D("0.245"), D("0.255"))
    (q,) = one(parser, "Observation", "value-quantity", "gt5.4||mg").values
    assert (q.number.prefix, q.number.value, q.system, q.code, q.code_or_unit) == \
        ("gt", D("5.4"), None, "mg", True)
    assert (q.number.low, q.number.high) == (D("5.35"), D("5.45"))
    (q,) = one(parser, "Observation", "value-quantity", "5|http://unitsofmeasure.org|mg").values
    assert (q.system, q.code, q.code_or_unit) == ("http://unitsofmeasure.org", "mg", False)
    (comp,) = one(parser, "Observation", "code-value-quantity",
                  "http://loinc.org|8302-2$gt160||cm").values
    assert comp == c.CompositeMatch("http://loinc.org", "8302-2", c.QuantityMatch(
        c.NumberMatch("gt", D("160"), D("159.5"), D("160.5")), None, "cm", False))


def test_numbers_are_exact_decimals_with_their_precision_range():
    """issue 9: compared as decimals; eq1.10 is [1.095, 1.105) exactly, not a double's."""
    m = number_match("value", "1.10")
    assert (m.value, m.low, m.high) == (D("1.10"), D("1.095"), D("1.105"))
    m = number_match("value", "12345678901234567.1")
    assert (m.low, m.high) == (D("12345678901234567.05"), D("12345678901234567.15"))
    m = number_match("value", "1e2")
    assert (m.low, m.high) == (D("99.5"), D("100.5"))
    assert number_match("value", "-0.0").value == 0
    for huge in ("1e5000", "1e-5001", "1e99999999999999999999"):
        with pytest.raises(OperationOutcomeError) as exc:
            number_match("value", huge)
        assert exc.value.status == 400


def test_repeated_single_dates_are_one_and_clause(parser):
    (cl,) = clauses(parser, "Observation", [("date", "ge2015"), ("date", "lt2016")])
    assert cl == c.DateAndClause("Observation", "date", (
        c.DateMatch("ge", *date_bounds("2015")), c.DateMatch("lt", *date_bounds("2016"))))


def test_references(parser):
    def value(name, v, rtype="Observation"):
        (m,) = one(parser, rtype, name, v).values
        return m
    assert value("subject", "Patient/1") == c.ReferenceMatch("Patient", "1")
    # a version: only references naming it (it was dropped, matching every version)
    assert value("subject", f"{BASE}/Patient/1/_history/2") == \
        c.ReferenceMatch("Patient", "1", version="2")
    assert value("target", "Patient/1/_history/2", "Provenance") == \
        c.ReferenceMatch("Patient", "1", version="2")
    assert value("subject", "http://other/fhir/Patient/1/_history/3") == \
        c.ReferenceMatch(url="http://other/fhir/Patient/1", version="3")
    for wrong in ("Patient/1/_history/", "Patient/1/_history/2/x", "1/_history/2",
                  "Patient/1/_history/a b"):
        with pytest.raises(OperationOutcomeError) as err:
            one(parser, "Provenance", "target", wrong)
        assert err.value.status == 400 and err.value.issues[0].expression == ("target",)
    assert value("subject", "http://other/fhir/Patient/1") == \
        c.ReferenceMatch(url="http://other/fhir/Patient/1")
    assert value("subject:Patient", "1") == c.ReferenceMatch("Patient", "1")
    assert value("subject:Group", "Patient/1") == c.Nothing()
    assert value("service-provider", "o1", "Encounter") == \
        c.ReferenceMatch("Organization", "o1")  # the parameter's one target type
    assert value("subject", "1") == c.ReferenceMatch(target_id="1")


def test_strings_missing_uri(parser):
    assert one(parser, "Patient", "family", "MÜL").values == (c.StringMatch("prefix", "mul"),)
    assert one(parser, "Patient", "family:exact", "Müller").values == \
        (c.StringMatch("exact", "muller", "Müller"),)
    assert one(parser, "Patient", "family:contains", "ll").values == \
        (c.StringMatch("contains", "ll"),)
    assert one(parser, "Patient", "birthdate:missing", "true") == \
        c.MissingClause("birthdate:missing", "date", "Patient", "birthdate", True)
    assert one(parser, "ValueSet", "url:below", "http://x/").values == \
        (c.UriMatch("http://x/", below=True),)
    assert one(parser, "Patient", "_id", "a,b") == c.IdClause(("a", "b"))
    assert one(parser, "Patient", "_id:missing", "false") == c.ConstantClause(True)


def test_chains_has_compartment_and_types(parser):
    chain = one(parser, "Observation", "subject:Patient.family", "smi")
    assert chain == c.ChainClause("Observation", "subject", (
        ("Patient", c.ParamClause("family", "string", "Patient", "family",
                                  (c.StringMatch("prefix", "smi"),))),))
    has = one(parser, "Patient", "_has:Observation:patient:code", "1234")
    assert (has.source, has.ref, has.clause.param) == ("Observation", "patient", "code")
    q = parse(parser, "Observation", [], compartment=("Patient", "p1"))
    (comp,) = q.criteria.clauses
    assert comp.rtype == "Observation" and comp.patient_id == "p1" and "subject" in comp.params
    q = parse(parser, None, [("_type", "Patient"), ("family", "x")])
    assert q.rtype == "Patient" and isinstance(q.criteria.clauses[-1], c.TypesClause)


def test_control_parameters(parser):
    q = parse(parser, "Observation", [
        ("_count", "500"), ("_offset", "10"), ("_sort", "-date,_id"), ("_total", "none"),
        ("_include", "Observation:subject:Patient"), ("_revinclude:iterate", "*"),
        ("_elements", "code, status"), ("_format", "json"), ("code", "x")])
    assert (q.count, q.offset, q.total) == (100, 10, "none")  # capped at max_count
    assert q.sort == (c.SortKey("date", True, "date"), c.SortKey("_id", False, None))
    assert q.includes == (c.IncludeSpec("Observation", "subject", "Patient", False),)
    assert q.revincludes == (c.IncludeSpec("*", "*", None, True),)
    assert q.elements == ("code", "status")
    assert ("_format", "json") not in q.link_params and ("code", "x") in q.link_params
    assert parse(parser, "Observation", []).count == 20
    assert not parse(parser, "Observation", [("_summary", "count")]).needs_entries
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.count = 1


def test_unknown_parameters_warn_or_fail(parser):
    q = parse(parser, "Patient", [("nosuch", "1"), ("family", "x")])
    assert [i.expression for i in q.issues] == [("nosuch",)]
    assert len(q.criteria.clauses) == 1
    with pytest.raises(OperationOutcomeError) as err:
        parse(parser, "Patient", [("nosuch", "1")], strict=True)
    assert err.value.status == 400


@pytest.mark.parametrize("rtype,name,value", [
    ("Observation", "date", "notadate"), ("Patient", "birthdate", "2020-13-45"),
    ("Observation", "value-quantity", "gtabc"), ("Observation", "value-quantity", "1|2"),
    ("Observation", "code", "a|b|c"), ("Observation", "code", "|"),
    ("Patient", "identifier:of-type", "sys|MR"), ("Observation", "subject", "a/b/c"),
    ("Observation", "code-value-quantity", "8302-2"), ("Patient", "birthdate:missing", "x"),
    ("Observation", "code", ""), ("Observation", "_count", "x"), ("Observation", "_sort", "zz"),
    ("Observation", "_include", "Observation:code"), ("Patient", "_has:Observation", "1"),
    ("Patient", "family:below", "x"), ("Observation", "_total", "some")])
def test_malformed_values_are_400_naming_the_parameter(parser, rtype, name, value):
    with pytest.raises(OperationOutcomeError) as err:
        parse(parser, rtype, [(name, value)])
    assert err.value.status == 400
    assert err.value.issues[0].expression == (name,)


def test_conditional_criteria_and_everything(parser):
    crit = parser.criteria("Patient", [("identifier", "s|1"), ("_count", "1")])
    assert crit == c.Criteria("Patient", (c.ParamClause(
        "identifier", "token", "Patient", "identifier",
        (c.TokenMatch("s", "1"),)),))
    with pytest.raises(OperationOutcomeError):
        parser.criteria("Patient", [("_count", "1")])
    ev = parser.everything("p1", [("_count", "500"), ("_type", "Observation,Condition"),
                                  ("_since", "2020-01-01")])
    assert (ev.count, ev.types, ev.since) == (100, ("Condition", "Observation"),
                                              date_bounds("2020-01-01")[0])
    assert parser.everything("p1", []).count == 100  # 5 pages' worth, within max_count


def test_a_limited_compartment_adds_its_own_targets_clause(parser):
    """The guard's patient-limited compartment (fhirsvc.security.guard.OWN_TARGETS) makes a
    Provenance search also require that every target is in the compartment; a plain
    compartment (`Patient/1/Provenance` of an unrestricted caller) does not."""
    plain = parse(parser, "Provenance", [], compartment=("Patient", "p1")).criteria.clauses
    assert plain == (c.CompartmentClause("Provenance", "p1", ("patient",)),)
    limited = parse(parser, "Provenance", [], compartment=c.LimitedCompartment(
        "Patient", "p1", ("target",))).criteria.clauses
    comp, own = limited
    assert comp == plain[0]
    assert (own.rtype, own.patient_id, own.params) == ("Provenance", "p1", ("target",))
    comps = dict(own.compartments)
    assert comps["Patient"] == ("link",) and "subject" in comps["Observation"]
    assert c.LimitedCompartment("Patient", "p1") == ("Patient", "p1")
