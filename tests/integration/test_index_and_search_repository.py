"""Index repository (rows written, replaced, rebuilt in batches) and search repository (typed
criteria compiled to SQL) on SQLite and PostgreSQL, without the search parser: every
criterion here is built by hand, so these tests pin what storage does with each clause."""
from __future__ import annotations

import pytest

from fhirsvc.search import Indexer, SearchRegistry
from fhirsvc.search import criteria as c
from fhirsvc.storage import Database, search_repository

BIRTH = {"a": "1970-01-01", "b": "1980-05-06", "c": "1990-12-31"}


@pytest.fixture(scope="module")
def registry():
    return SearchRegistry.load(guide_dir=None)


@pytest.fixture(scope="module")
def db(db_url, registry):
    database = Database(db_url, indexer=Indexer(registry))
    with database.unit_of_work(write=True) as uow:
        for pid, family in (("a", "Müller"), ("b", "Smith"), ("c", "Smithers")):
            uow.resources.save("Patient", pid, {
                "resourceType": "Patient", "gender": "female" if pid != "b" else "male",
                "birthDate": BIRTH[pid], "name": [{"family": family}],
                "identifier": [{"system": "http://mrn", "value": pid.upper()}]}, "PUT", None)
        uow.resources.save("Organization", "org", {"resourceType": "Organization",
                                                   "name": "Clinic"}, "PUT", None)
        for i, (pid, code, value) in enumerate([("a", "8302-2", 170), ("a", "29463-7", 70),
                                                ("b", "8302-2", 180), ("c", "8302-2", 160)]):
            uow.resources.save("Observation", f"o{i}", {
                "resourceType": "Observation", "status": "final" if i != 1 else "amended",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": f"Patient/{pid}"},
                "performer": [{"reference": "Organization/org"}],
                "effectiveDateTime": f"201{i}-06-01T10:00:00Z",
                "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                                  "code": "cm"}}, "PUT", None)
        uow.commit()
    yield database
    database.dispose()


def ids(db, criteria: c.Criteria) -> list[str]:
    with db.unit_of_work() as uow:
        got = uow.resources.read_many(uow.search.match(criteria))
    return sorted(s.resource_id for s in got.values())


def obs(*clauses) -> c.Criteria:
    return c.Criteria("Observation", tuple(clauses))


def token(param, system, code, **kw) -> c.ParamClause:
    return c.ParamClause(param, "token", "Observation", param,
                         (c.TokenMatch(system, code, **kw),))


def test_token_forms(db):
    assert ids(db, obs(token("code", "http://loinc.org", "8302-2"))) == ["o0", "o2", "o3"]
    assert ids(db, obs(token("code", None, "29463-7"))) == ["o1"]
    assert ids(db, obs(token("code", "", "8302-2"))) == []          # |code: no system
    assert ids(db, obs(token("code", "http://loinc.org", None))) == ["o0", "o1", "o2", "o3"]
    # primitive codes carry no system; or_no_system lets a system|code find them
    status = c.ParamClause("status", "token", "Observation", "status",
                           (c.TokenMatch("http://hl7.org/fhir/observation-status", "final",
                                         or_no_system=True),))
    assert ids(db, obs(status)) == ["o0", "o2", "o3"]
    negated = c.ParamClause("status:not", "token", "Observation", "status",
                            (c.TokenMatch(None, "final"),), "not", negate=True)
    assert ids(db, obs(negated)) == ["o1"]


def test_or_inside_a_clause_and_between_clauses(db):
    either = c.ParamClause("code", "token", "Observation", "code",
                           (c.TokenMatch(None, "8302-2"), c.TokenMatch(None, "29463-7")))
    assert ids(db, obs(either)) == ["o0", "o1", "o2", "o3"]
    subject = c.ParamClause("subject", "reference", "Observation", "subject",
                            (c.ReferenceMatch("Patient", "a"),))
    assert ids(db, obs(either, subject)) == ["o0", "o1"]
    assert ids(db, obs(subject, token("code", None, "8302-2"))) == ["o0"]


def test_numbers_quantities_dates_and_missing(db):
    over = c.ParamClause("value-quantity", "quantity", "Observation", "value-quantity", (
        c.QuantityMatch(c.NumberMatch("gt", 165.0, 164.5, 165.5), None, "cm", True),))
    assert ids(db, obs(over)) == ["o0", "o2"]
    in_2012 = c.DateAndClause("Observation", "date", (
        c.DateMatch("ge", *_year(2012)), c.DateMatch("lt", *_year(2013))))
    assert ids(db, obs(in_2012)) == ["o2"]
    missing = c.MissingClause("value-string:missing", "string", "Observation",
                              "value-string", True)
    assert ids(db, obs(missing)) == ["o0", "o1", "o2", "o3"]
    present = c.MissingClause("value-quantity:missing", "quantity", "Observation",
                              "value-quantity", False)
    assert ids(db, obs(present, token("code", None, "29463-7"))) == ["o1"]


def test_strings_chain_has_and_compartment(db):
    smith = c.ParamClause("family", "string", "Patient", "family",
                          (c.StringMatch("prefix", "smith"),))
    assert ids(db, c.Criteria("Patient", (smith,))) == ["b", "c"]
    exact = c.ParamClause("family:exact", "string", "Patient", "family",
                          (c.StringMatch("exact", "muller", "Müller"),), "exact")
    assert ids(db, c.Criteria("Patient", (exact,))) == ["a"]
    chain = c.ChainClause("Observation", "subject", (("Patient", smith),))
    assert ids(db, obs(chain)) == ["o2", "o3"]
    has = c.HasClause("Patient", "Observation", "subject",
                      c.ParamClause("code", "token", "Observation", "code",
                                    (c.TokenMatch(None, "29463-7"),)))
    assert ids(db, c.Criteria("Patient", (has,))) == ["a"]
    member = c.CompartmentClause("Observation", "a", ("subject", "performer"))
    assert ids(db, obs(member)) == ["o0", "o1"]
    itself = c.CompartmentClause("Patient", "c", ("link",))
    assert ids(db, c.Criteria("Patient", (itself,))) == ["c"]


@pytest.mark.parametrize("large", [1, 10**9])
def test_chain_intersect_plan_gives_the_same_matches(db, monkeypatch, large):
    """With a threshold of 1 every chain counts as large: PostgreSQL then intersects it with
    the next condition as a set; SQLite never does (dialect.intersects_large_chains)."""
    monkeypatch.setattr(search_repository, "FANOUT_LARGE", large)
    chosen = []
    pick = search_repository.SearchRepository._intersect_pair
    monkeypatch.setattr(search_repository.SearchRepository, "_intersect_pair",
                        lambda self, o: chosen.append(pick(self, o)) or chosen[-1])
    smith = c.ParamClause("family", "string", "Patient", "family",
                          (c.StringMatch("prefix", "smith"),))
    chain = c.ChainClause("Observation", "subject", (("Patient", smith),))
    assert ids(db, obs(chain, token("code", None, "8302-2"))) == ["o2", "o3"]
    assert (chosen[-1][0] is not None) == (large == 1 and db.dialect == "postgresql")  # (pair, walk)


def test_find_pages_sorts_and_counts(db):
    everyone = c.Criteria("Patient")
    by_birth = (c.SortKey("birthdate", True, "date"),)
    with db.unit_of_work() as uow:
        first = uow.search.find(everyone, sort=by_birth, limit=2, with_total=True)
        rest = uow.search.find(everyone, sort=by_birth, limit=2, offset=2)
        only_total = uow.search.find(everyone, limit=0, with_total=True)
        names = {pk: s.resource_id for pk, s in uow.resources.read_many(
            first.pks + rest.pks).items()}
    assert [names[pk] for pk in first.pks + rest.pks] == ["c", "b", "a"]
    assert (first.total, first.has_next, rest.total, rest.has_next) == (3, True, None, False)
    assert (only_total.total, only_total.pks) == (3, [])


def test_includes_revincludes_and_compartment_members(db):
    with db.unit_of_work() as uow:
        observations = list(uow.resources.read_many(uow.search.match(obs())).values())
        patient_a = uow.resources.read("Patient", "a")
        inc = uow.search.include_targets(observations, c.IncludeSpec("Observation", "subject"))
        everything = uow.search.include_targets(observations, c.IncludeSpec("*", "*"))
        rev = uow.search.revinclude_sources([patient_a],
                                            c.IncludeSpec("Observation", "subject"))
        members = uow.search.compartment_members(
            "Patient", "a", {"Observation": ["subject"], "Patient": ["link"]})
        referenced = uow.search.referenced_by(sorted(members))
        recent = uow.search.restrict(sorted(members | referenced), types=["Observation"])
        named = {pk: f"{s.resource_type}/{s.resource_id}" for pk, s in
                 uow.resources.read_many(inc | everything | rev | members | referenced).items()}
    assert sorted(named[pk] for pk in inc) == ["Patient/a", "Patient/b", "Patient/c"]
    assert sorted(named[pk] for pk in everything - inc) == ["Organization/org"]
    assert sorted(named[pk] for pk in rev) == ["Observation/o0", "Observation/o1"]
    assert sorted(named[pk] for pk in members) == ["Observation/o0", "Observation/o1"]
    assert sorted(named[pk] for pk in referenced) == ["Organization/org", "Patient/a"]
    assert recent == members


def test_in_other_compartments_names_another_patients_record(db):
    """What $everything must not bring along from a compartment's references: another
    Patient, and what is in another patient's compartment (a Group of a and b names b)."""
    definition = {"Observation": ["subject"], "Patient": ["link"], "Group": ["member"]}
    with db.unit_of_work(write=True) as uow:   # rolled back: the module's data stays
        uow.resources.save("Group", "g", {"resourceType": "Group", "type": "person",
                                          "actual": True, "member": [
                                              {"entity": {"reference": "Patient/a"}},
                                              {"entity": {"reference": "Patient/b"}}]},
                           "PUT", None)
        uow.flush_index()
        members = uow.search.compartment_members("Patient", "a", definition)
        referenced = uow.search.referenced_by(sorted(members))
        other = uow.search.in_other_compartments(sorted(referenced | members), "Patient", "a",
                                                 definition)
        named = {pk: f"{s.resource_type}/{s.resource_id}" for pk, s in
                 uow.resources.read_many(members | referenced).items()}
    assert sorted(named[pk] for pk in members) == ["Group/g", "Observation/o0",
                                                   "Observation/o1"]
    assert sorted(named[pk] for pk in referenced) == ["Organization/org", "Patient/a",
                                                      "Patient/b"]
    # the Group is a's too, but it is a member (never filtered); b and b's Group are b's
    assert sorted(named[pk] for pk in other) == ["Group/g", "Patient/b"]


def test_index_rows_are_replaced_inside_the_transaction(db):
    def gender(g):
        return c.Criteria("Patient", (c.ParamClause("gender", "token", "Patient", "gender",
                                                     (c.TokenMatch(None, g),)),))
    with db.unit_of_work(write=True) as uow:
        cur = uow.resources.read("Patient", "c", for_update=True)
        uow.resources.save("Patient", "c", {"resourceType": "Patient", "gender": "male",
                                            "name": [{"family": "Smithers"}]}, "PUT", cur)
        uow.flush_index()
        # this transaction sees its own rows, and the old ones are gone
        assert ids_in(uow, gender("male")) == ["b", "c"]
        assert ids_in(uow, gender("female")) == ["a"]
    # not committed: nothing changed
    assert ids(db, gender("male")) == ["b"]
    assert ids(db, gender("female")) == ["a", "c"]


def ids_in(uow, criteria) -> list[str]:
    got = uow.resources.read_many(uow.search.match(criteria))
    return sorted(s.resource_id for s in got.values())


def test_rebuild_in_batches_with_a_new_parameter(db, db_url, registry):
    reg = SearchRegistry.load(guide_dir=None)
    reg.add({"resourceType": "SearchParameter", "url": "http://example.org/sp/nickname",
             "code": "nickname", "base": ["Patient"], "type": "string",
             "expression": "Patient.name.given"})
    database = Database(db_url, indexer=Indexer(registry))
    with database.unit_of_work(write=True) as uow:
        for pid in ("n1", "n2", "n3"):
            uow.resources.save("Patient", pid, {"resourceType": "Patient",
                                                "name": [{"given": [f"Nick{pid}"]}]},
                               "PUT", None)
        cur = uow.resources.read("Patient", "n2")
        uow.resources.save("Patient", "n2", None, "DELETE", cur)
        uow.commit()
    nick = c.Criteria("Patient", (c.ParamClause("nickname", "string", "Patient", "nickname",
                                                (c.StringMatch("prefix", "nick"),)),))
    assert ids(database, nick) == []  # not indexed under the old parameters
    batches, after, indexer = [], 0, Indexer(reg)
    while True:
        with database.unit_of_work(write=True) as uow:
            count, after = uow.index.rebuild(after, 3, indexer)
            uow.commit()
        batches.append(count)
        if count == 0:
            break
    total = sum(batches)
    with database.unit_of_work() as uow:
        assert total == uow.resources.count()  # every current, non-deleted resource
    assert batches[-1] == 0 and max(batches) <= 3 and len(batches) > 2
    assert ids(database, nick) == ["n1", "n3"]
    # the other rows were rebuilt too, not lost
    assert ids(database, obs(token("code", None, "8302-2"))) == ["o0", "o2", "o3"]
    database.dispose()


def _year(y: int) -> tuple[int, int]:
    from fhirsvc.search.values import date_bounds
    return date_bounds(str(y))


def test_rebuild_indexes_decimals_exactly_from_the_stored_text(db_url, registry):
    """issue 9: the reindex that migration 0011 queues reads the stored text exactly (a double
    would make 12345678901234567.1 and 12345678901234567.2 one value)."""
    from decimal import Decimal

    from fhirsvc import jsontext
    database = Database(db_url, indexer=Indexer(registry))
    with database.unit_of_work(write=True) as uow:
        for oid, v in (("dx1", "12345678901234567.1"), ("dx2", "12345678901234567.2")):
            body = jsontext.loads(('{"resourceType":"Observation","status":"final","code":'
                                   '{"text":"x"},"valueQuantity":{"value":%s,"unit":"u-dx"}}'
                                   % v).encode())
            uow.resources.save("Observation", oid, body, "PUT", None)
        uow.commit()
    after = 0
    while True:
        with database.unit_of_work(write=True) as uow:
            count, after = uow.index.rebuild(after, 50)
            uow.commit()
        if count == 0:
            break
    exact = c.NumberMatch("eq", Decimal("12345678901234567.1"), Decimal("12345678901234567.05"),
                          Decimal("12345678901234567.15"))
    q = c.ParamClause("value-quantity", "quantity", "Observation", "value-quantity",
                      (c.QuantityMatch(exact, None, "u-dx", True),))
    assert ids(database, obs(q)) == ["dx1"]
    database.dispose()
