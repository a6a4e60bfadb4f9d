"""The search features of issue 16 on SQLite and PostgreSQL: _text / _content, :in / :not-in,
:below / :above (tokens through code system hierarchies, uris), :of-type, :text, chains and
_has of more than one level, _filter. A small hand-made data set, expectations written out."""
from __future__ import annotations

import pytest

from conftest import BASE, make_env
from fhirsvc.definitions.registry import Registry
from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.search import SearchEngine

CS = "http://example.org/fhir/CodeSystem/lesion"
VS = "http://example.org/fhir/ValueSet/deep-lesions"
LOINC = "http://loinc.org"


def narrative(text: str) -> dict:
    return {"status": "generated",
            "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{text}</p></div>"}


CODESYSTEM = {
    "resourceType": "CodeSystem", "url": CS, "status": "active", "content": "complete",
    "hierarchyMeaning": "is-a",
    "concept": [{"code": "lesion", "concept": [
        {"code": "superficial", "concept": [{"code": "nodule"}]},
        {"code": "deep", "concept": [{"code": "tumoral"}, {"code": "sheet"}]}]}]}
VALUESET = {"resourceType": "ValueSet", "url": VS, "status": "active",
            "compose": {"include": [{"system": CS, "filter": [
                {"property": "concept", "op": "is-a", "value": "deep"}]}]}}

RESOURCES = [
    ("Organization", "org1", {"resourceType": "Organization", "id": "org1",
                              "name": "Clinique Générale"}),
    ("Organization", "org2", {"resourceType": "Organization", "id": "org2", "name": "Other"}),
    ("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "female",
                       "birthDate": "1961-04-02", "name": [{"family": "Dupont"}],
                       "managingOrganization": {"reference": "Organization/org1"},
                       "identifier": [{"system": "urn:mrn", "value": "A1", "type": {
                           "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                       "code": "MR"}], "text": "Medical record"}}],
                       "text": narrative("Calcinosis of the <b>left hand</b>, Raynaud's.")}),
    ("Patient", "p2", {"resourceType": "Patient", "id": "p2", "gender": "male",
                       "birthDate": "1975-09-30", "name": [{"family": "Durand"}],
                       "managingOrganization": {"reference": "Organization/org2"},
                       "identifier": [{"system": "urn:mrn", "value": "A1"}],
                       "text": narrative("Digital ulcer; hand pain")}),
    ("Patient", "p3", {"resourceType": "Patient", "id": "p3", "gender": "other",
                       "name": [{"family": "Martin", "given": ["Élodie"]}]}),
    ("Observation", "o1", {"resourceType": "Observation", "id": "o1", "status": "final",
                           "code": {"coding": [{"system": CS, "code": "tumoral"}],
                                    "text": "Tumoral calcinosis"},
                           "subject": {"reference": "Patient/p1"},
                           "effectiveDateTime": "2020-01-10",
                           "note": [{"text": "seen on x-ray of the elbow"}]}),
    ("Observation", "o2", {"resourceType": "Observation", "id": "o2", "status": "final",
                           "code": {"coding": [{"system": CS, "code": "nodule"}]},
                           "subject": {"reference": "Patient/p2"},
                           "effectiveDateTime": "2021-06-01"}),
    ("Observation", "o3", {"resourceType": "Observation", "id": "o3", "status": "preliminary",
                           "code": {"coding": [{"system": LOINC, "code": "8302-2",
                                                "display": "Body height"}]},
                           "subject": {"reference": "Patient/p1"},
                           "effectiveDateTime": "2022-03-03",
                           "valueQuantity": {"value": 162, "system": "http://unitsofmeasure.org",
                                             "code": "cm"}}),
    ("Observation", "o4", {"resourceType": "Observation", "id": "o4", "status": "final",
                           "code": {"coding": [{"system": CS, "code": "sheet"}]},
                           "subject": {"reference": "Patient/p3"}}),
    ("Provenance", "pv1", {"resourceType": "Provenance", "id": "pv1",
                           "target": [{"reference": "Observation/o1"}],
                           "recorded": "2020-01-11T00:00:00Z",
                           "agent": [{"who": {"reference": "Organization/org2"}}]}),
    ("StructureDefinition", "sd1", {
        "resourceType": "StructureDefinition", "id": "sd1", "status": "draft",
        "url": "http://example.org/fhir/StructureDefinition/a/b", "name": "AB",
        "kind": "resource", "abstract": False, "type": "Patient"}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory, registry):
    e, cleanup = make_env(request.param, tmp_path_factory, registry, RESOURCES)
    terminology = Registry()
    terminology.add(CODESYSTEM)
    terminology.add(VALUESET)
    e.engine = SearchEngine(registry, terminology=terminology)
    yield e
    cleanup()


def bad(env, rtype, params) -> str:
    with pytest.raises(OperationOutcomeError) as err:
        env.ids(rtype, params)
    assert err.value.status == 400
    return str(err.value.outcome)


# -- _text / _content ---------------------------------------------------------------------------

def test_text_searches_the_narrative_words(env):
    assert env.ids("Patient", [("_text", "hand")]) == {"p1", "p2"}
    assert env.ids("Patient", [("_text", "calcinosis hand")]) == {"p1"}      # all words
    assert env.ids("Patient", [("_text", '"left hand"')]) == {"p1"}          # phrase
    assert env.ids("Patient", [("_text", '"hand left"')]) == set()
    assert env.ids("Patient", [("_text", "raynaud OR ulcer")]) == {"p1", "p2"}
    assert env.ids("Patient", [("_text", "RAYNAUD")]) == {"p1"}              # case folded
    assert env.ids("Patient", [("_text", "dupont")]) == set()  # a name, not the narrative


def test_content_searches_every_text_of_the_resource(env):
    assert env.ids("Patient", [("_content", "dupont")]) == {"p1"}
    assert env.ids("Patient", [("_content", "elodie")]) == {"p3"}            # accents folded
    assert env.ids("Patient", [("_content", "medical record")]) == {"p1"}
    assert env.ids("Observation", [("_content", "x-ray elbow")]) == {"o1"}
    assert env.ids("Observation", [("_content", "calcinosis"), ("status", "final")]) == {"o1"}
    assert env.ids("Patient", [("_content", "hand")]) == {"p1", "p2"}       # narrative included


def test_text_words_follow_updates_and_deletes(env):
    with env.db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "tmp1", {"resourceType": "Patient", "id": "tmp1",
                                               "text": narrative("zyxwv")}, "PUT", None)
        uow.commit()
    assert env.ids("Patient", [("_text", "zyxwv")]) == {"tmp1"}
    with env.db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "tmp1", {"resourceType": "Patient", "id": "tmp1",
                                               "text": narrative("vwxyz")}, "PUT",
                           uow.resources.read("Patient", "tmp1", for_update=True))
        uow.commit()
    assert env.ids("Patient", [("_text", "zyxwv")]) == set()
    assert env.ids("Patient", [("_text", "vwxyz")]) == {"tmp1"}
    with env.db.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "tmp1", None, "DELETE",
                           uow.resources.read("Patient", "tmp1", for_update=True))
        uow.commit()
    assert env.ids("Patient", [("_text", "vwxyz")]) == set()


def test_text_needs_a_word(env):
    assert "at least one word" in bad(env, "Patient", [("_text", " ,;")])


# -- :in / :not-in / :below / :above -------------------------------------------------------------

def test_in_and_not_in_a_valueset(env):
    assert env.ids("Observation", [("code:in", VS)]) == {"o1", "o4"}
    assert env.ids("Observation", [("code:not-in", VS)]) == {"o2", "o3"}
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert env.ids("Patient", [("gender:in", gender)]) == {"p1", "p2", "p3"}
    assert "not known" in bad(env, "Observation", [("code:in", "http://nowhere/vs")])


def test_below_and_above_through_the_code_system_hierarchy(env):
    assert env.ids("Observation", [("code:below", f"{CS}|deep")]) == {"o1", "o4"}
    assert env.ids("Observation", [("code:below", f"{CS}|lesion")]) == {"o1", "o2", "o4"}
    assert env.ids("Observation", [("code:below", f"{CS}|nodule")]) == {"o2"}
    assert env.ids("Observation", [("code:above", f"{CS}|superficial")]) == set()
    assert "system|code" in bad(env, "Observation", [("code:below", "deep")])
    assert "not known" in bad(env, "Observation", [("code:below", "http://nowhere|x")])


def test_uri_above_and_below(env):
    url = "http://example.org/fhir/StructureDefinition/a/b"
    assert env.ids("StructureDefinition", [("url:above", url + "/c/d")]) == {"sd1"}
    assert env.ids("StructureDefinition", [("url:above", url[:-2])]) == set()
    assert env.ids("StructureDefinition", [("url:below", "http://example.org/fhir")]) == {"sd1"}


def test_of_type_and_text_on_tokens(env):
    mr = "http://terminology.hl7.org/CodeSystem/v2-0203|MR|A1"
    assert env.ids("Patient", [("identifier:of-type", mr)]) == {"p1"}
    assert env.ids("Patient", [("identifier", "urn:mrn|A1")]) == {"p1", "p2"}
    assert env.ids("Observation", [("code:text", "body")]) == {"o3"}
    assert env.ids("Observation", [("code:text", "tumoral calc")]) == {"o1"}


# -- chains and _has -----------------------------------------------------------------------------

def test_chains_of_two_levels(env):
    assert env.ids("Observation", [("subject:Patient.organization.name", "clinique")]) == \
        {"o1", "o3"}
    assert env.ids("Observation", [("patient.organization.name", "other")]) == {"o2"}
    assert env.ids("Provenance", [("target:Observation.subject:Patient.family", "dupont")]) \
        == {"pv1"}


def test_has_inside_has(env):
    # Organizations managing a patient who is the subject of a final Observation
    assert env.ids("Organization", [("_has:Patient:organization:_has:Observation:subject:"
                                     "status", "final")]) == {"org1", "org2"}
    assert env.ids("Organization", [("_has:Patient:organization:_has:Observation:subject:"
                                     "code", f"{CS}|tumoral")]) == {"org1"}
    # three levels: organizations whose patient's observation has a provenance by org2
    assert env.ids("Organization", [("_has:Patient:organization:_has:Observation:subject:"
                                     "_has:Provenance:target:agent", "Organization/org2")]) \
        == {"org1"}


# -- _filter -------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, expected", [
    ("family eq dupont", {"p1"}),
    ("family ne dupont", {"p2", "p3"}),
    ('family co "ura"', {"p2"}),
    ("family sw du", {"p1", "p2"}),
    ("family ew ont", {"p1"}),
    ("birthdate gt 1970", {"p2"}),
    ("birthdate lt 1970-01-01", {"p1"}),
    ("birthdate ge 1961-04-02 and birthdate le 1961-04-02", {"p1"}),
    ("gender eq male or gender eq other", {"p2", "p3"}),
    ("family sw du and not (gender eq female)", {"p2"}),
    ("(gender eq female or gender eq male) and birthdate ge 1970", {"p2"}),
    ("not (family sw du) or birthdate lt 1965", {"p1", "p3"}),
    ("_id eq p3 or identifier eq urn:mrn|A1", {"p1", "p2", "p3"}),
    ("organization eq Organization/org2", {"p2"}),
    ("family eq \"dupont\" AND gender eq female", {"p1"}),
])
def test_filter(env, expr, expected):
    assert env.ids("Patient", [("_filter", expr)]) == expected


def test_filter_on_quantities_and_dates(env):
    assert env.ids("Observation", [("_filter", "value-quantity gt 150")]) == {"o3"}
    assert env.ids("Observation", [("_filter", "value-quantity lt 150")]) == set()
    assert env.ids("Observation", [("_filter", "date ge 2021 and status eq final")]) == {"o2"}


@pytest.mark.parametrize("expr, words", [
    ("family xx dupont", "unknown operator 'xx'"),
    ("family gt dupont", "operator 'gt' is not supported on string"),
    ("gender co mal", "operator 'co' is not supported on token"),
    ("name.family eq x", "parameter paths"),
    ("nosuch eq 1", "no supported search parameter 'nosuch'"),
    ("(family eq a", "')' was expected"),
    ("family eq a extra", "unexpected 'extra'"),
    ("family eq", "a value after"),
    ("", "empty"),
])
def test_filter_errors_are_400s(env, expr, words):
    assert words in bad(env, "Patient", [("_filter", expr)])


@pytest.mark.parametrize("cap", [0, 1, 500])
def test_chains_resolved_to_ids_or_joined_agree(env, cap, monkeypatch):
    """Chains with up to CHAIN_TARGETS targets become references to those ids; more keep the
    one-statement join: both answer the same."""
    from fhirsvc.storage import search_repository
    monkeypatch.setattr(search_repository, "CHAIN_TARGETS", cap)
    assert env.ids("Observation", [("subject:Patient.family", "du")]) == {"o1", "o2", "o3"}
    assert env.ids("Observation", [("subject:Patient.family", "du"),
                                   ("code", "8302-2")]) == {"o3"}
    assert env.ids("Observation", [("subject:Patient.family", "nobody")]) == set()
    assert env.ids("Observation", [("subject:Patient.organization.name", "clinique"),
                                   ("status", "final")]) == {"o1"}


def test_single_parameter_searches_count_and_page_from_the_index(env):
    """Counted and paged from index rows alone: updates and deletes are seen, duplicates of
    multi-valued resources counted once, paging in key order."""
    def page(params):
        with env.db.unit_of_work() as uow:
            return env.engine.search(uow, "Patient", params, base_url=BASE)

    def save(rid, resource):
        with env.db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", rid, resource, "DELETE" if resource is None else "PUT",
                               uow.resources.read("Patient", rid, for_update=True))
            uow.commit()
    for i in range(3):
        save(f"ix{i}", {"resourceType": "Patient", "id": f"ix{i}", "birthDate": "1931-05-05",
                        "name": [{"family": "Ixx"}, {"family": "Ixy"}]})
    got = page([("family", "ix"), ("_count", "2")])
    assert got["total"] == 3 and len(got["entry"]) == 2
    assert any(link["relation"] == "next" for link in got["link"])
    assert page([("birthdate", "1931"), ("_count", "5")])["total"] == 3
    save("ix1", {"resourceType": "Patient", "id": "ix1", "birthDate": "1932-01-01"})
    save("ix2", None)
    assert env.ids("Patient", [("birthdate", "1931")]) == {"ix0"}
    assert env.ids("Patient", [("family", "ix")]) == {"ix0"}
    assert page([("birthdate", "ge1931"), ("birthdate", "lt1933")])["total"] == 2


@pytest.mark.parametrize("batch, batches", [(1, 8), (2, 1), (500, 8), (1, 1)])
def test_large_chain_pages_by_walking_the_partner_in_key_order(env, batch, batches,
                                                               monkeypatch):
    """Made "large" by lowering the thresholds: the page is found by walking the partner's
    keys in batches, the chain tested per batch through the keys' own reference rows
    (falling back to the set plan after too many batches), on both databases; all agree."""
    from fhirsvc.storage import search_repository as sr
    monkeypatch.setattr(sr, "FANOUT_LARGE", 1)
    monkeypatch.setattr(sr, "PARTNER_FACTOR", 1)
    monkeypatch.setattr(sr, "WALK_BATCH", batch)
    monkeypatch.setattr(sr, "WALK_BATCHES", batches)
    walked = []
    real = sr.SearchRepository._walk
    monkeypatch.setattr(sr.SearchRepository, "_walk",
                        lambda self, *a: walked.append(1) or real(self, *a))
    params = [("subject:Patient.family", "du"), ("status", "final")]
    assert env.ids("Observation", params) == {"o1", "o2"}
    assert env.ids("Observation", [("subject:Patient.family", "du"),
                                   ("subject", "Patient/p1")]) == {"o1", "o3"}
    pages = []
    for offset in (0, 1, 2):
        with env.db.unit_of_work() as uow:
            b = env.engine.search(uow, "Observation", params + [
                ("_count", "1"), ("_offset", str(offset)), ("_total", "none")], base_url=BASE)
        pages.append(([e["resource"]["id"] for e in b.get("entry", [])],
                      any(link["relation"] == "next" for link in b["link"])))
    assert sorted(p[0][0] for p in pages[:2]) == ["o1", "o2"]
    assert [p[1] for p in pages] == [True, False, False] and pages[2][0] == []
    assert walked
