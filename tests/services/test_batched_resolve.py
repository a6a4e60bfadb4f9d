"""Batched resolve of conditional entries (issue 16): `SearchEngine.match_many` answers what
`match` answers one query at a time, and a plan resolved with it gets the targets, references
and errors (0 / 1 / many matches, 404 and 412) that the one-by-one path gives. Both databases."""
import pytest

from fhirsvc.ingest import Outcome, ProvenanceRecord
from fhirsvc.ingest.plan import plan_bundle
from fhirsvc.ingest.resolve import resolve
from fhirsvc.outcomes import OperationOutcomeError
from tools.sql_log import statements_run

SYS = "urn:batched:mrn"


@pytest.fixture(scope="module")
def stored(rt):
    """Patients: one with a unique identifier, two sharing one, one without a system, one
    deleted; an Observation whose identifier value is also a Patient's."""
    from fhirsvc.context import RequestContext
    ctx = RequestContext(base_url="http://test/fhir", door="test")
    res = rt.services.resources

    def make(rtype, **fields):
        return res.create(ctx, rtype, {"resourceType": rtype, **fields}).stored.resource_id

    ids = {
        "one": make("Patient", identifier=[{"system": SYS, "value": "b-one"}], gender="male"),
        "twin1": make("Patient", identifier=[{"system": SYS, "value": "b-twin"}]),
        "twin2": make("Patient", identifier=[{"system": SYS, "value": "b-twin"}]),
        "nosys": make("Patient", identifier=[{"value": "b-nosys"}]),
        "two_ids": make("Patient", identifier=[{"system": SYS, "value": "b-a"},
                                               {"system": "urn:other", "value": "b-b"}]),
        "gone": make("Patient", identifier=[{"system": SYS, "value": "b-gone"}]),
        "obs": make("Observation", status="final", code={"text": "x"},
                    identifier=[{"system": SYS, "value": "b-one"}]),
    }
    res.delete(ctx, "Patient", ids["gone"])
    return ids


QUERIES = [
    ("Patient", [("identifier", f"{SYS}|b-one")]),           # one
    ("Patient", [("identifier", f"{SYS}|b-twin")]),          # many
    ("Patient", [("identifier", f"{SYS}|b-none")]),          # none
    ("Patient", [("identifier", "b-one")]),                  # any system
    ("Patient", [("identifier", "|b-nosys")]),               # no system
    ("Patient", [("identifier", f"{SYS}|b-nosys")]),         # a system, the row has none
    ("Patient", [("identifier", "|b-one")]),                 # no system: the row has one
    ("Patient", [("identifier", f"{SYS}|b-gone")]),          # deleted
    ("Patient", [("identifier", f"{SYS}|b-one,{SYS}|b-twin")]),   # either value
    ("Patient", [("identifier", f"{SYS}|b-a")]),
    ("Patient", [("identifier", "urn:other|b-b")]),
    ("Patient", [("identifier", "urn:other|b-a")]),          # value of another system
    ("Observation", [("identifier", f"{SYS}|b-one")]),       # same token, other type
    ("Patient", [("identifier", f"{SYS}|b-one"), ("gender", "male")]),  # two conditions
    ("Patient", [("identifier:not", f"{SYS}|b-twin"), ("gender", "male")]),  # a modifier
    ("Patient", [("gender", "male")]),                       # not an identifier
    ("Patient", [("_id", "nope")]),
    ("Patient", [("gender", "http://hl7.org/fhir/administrative-gender|male")]),  # implied
]


def _refs(found):
    return [s.reference for s in found]


def test_match_many_answers_what_match_answers(rt, stored):
    engine = rt.services.resources.pipeline.search
    with rt.db.unit_of_work() as uow:
        one_by_one = [_refs(engine.match_searched(uow, t, q)) for t, q in QUERIES]
        batched = [_refs(found) for found in engine.match_many(uow, QUERIES)]
        single = [_refs(engine.match(uow, t, q)) for t, q in QUERIES]
    assert batched == one_by_one
    assert single == one_by_one
    # and the cases are what they say (the comparison is not between two empty lists)
    assert one_by_one[0] == [f"Patient/{stored['one']}"]
    assert sorted(one_by_one[1]) == sorted([f"Patient/{stored['twin1']}",
                                            f"Patient/{stored['twin2']}"])
    assert one_by_one[2] == [] and one_by_one[7] == []
    assert one_by_one[4] == [f"Patient/{stored['nosys']}"]
    assert one_by_one[6] == []
    # a system given: an identifier without one is not it (patient safety), in both paths
    assert one_by_one[5] == []
    # a primitive code's system is implied by its binding
    assert one_by_one[17] == [f"Patient/{stored['one']}"]
    assert len(one_by_one[8]) == 3
    assert one_by_one[12] == [f"Observation/{stored['obs']}"]


def test_match_many_many_queries_in_chunks(rt, stored):
    """More conditions than one statement takes: the answers still line up."""
    engine = rt.services.resources.pipeline.search
    queries = [("Patient", [("identifier", f"{SYS}|b-{'one' if i % 3 else 'none'}-{i}"
                             if i % 2 else f"{SYS}|b-one")]) for i in range(450)]
    with rt.db.unit_of_work() as uow:
        got = engine.match_many(uow, queries)
    assert [len(g) for g in got] == [0 if i % 2 else 1 for i in range(450)]


def _tx(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _put(url, resource, full_url=None):
    e = {"resource": resource, "request": {"method": "PUT", "url": url}}
    if full_url:
        e["fullUrl"] = full_url
    return e


def _post(resource, if_none_exist=None, full_url=None):
    req = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist:
        req["ifNoneExist"] = if_none_exist
    e = {"resource": resource, "request": req}
    if full_url:
        e["fullUrl"] = full_url
    return e


def _resolve_both(rt, bundle):
    """The plan resolved one by one and batched, in one read transaction each: (targets,
    references) or the error (status, issue texts)."""
    engine = rt.services.resources.pipeline.search
    plan = plan_bundle(bundle)
    out = []
    for match, many in ((engine.match_searched, None), (engine.match, engine.match_many)):
        with rt.db.unit_of_work() as uow:
            try:
                res = resolve(uow, match, plan.ops, match_many=many)
                out.append(({i: (t.rid, t.existing.pk if t.existing else None, t.same_as)
                             for i, t in res.targets.items()}, res.references))
            except OperationOutcomeError as exc:
                out.append((exc.status, [(i.code, i.message, i.expression) for i in exc.issues]))
    return out


def test_plans_resolve_the_same_either_way(rt, stored):
    pat = {"resourceType": "Patient"}
    cases = [
        # updates matching one (update), conditional creates matching one and none, a second
        # create with the same criteria, conditional references
        _tx(_put(f"Patient?identifier={SYS}|b-one", {**pat, "id": stored["one"]}),
            _post(pat, f"identifier={SYS}|b-a"),
            _post(pat, f"identifier={SYS}|b-a"),
            _post({"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                   "subject": {"reference": f"Patient?identifier={SYS}|b-one"}})),
        # ifNoneExist with several matches: 412
        _tx(_post(pat, f"identifier={SYS}|b-one"), _post(pat, f"identifier={SYS}|b-twin")),
        # conditional update with several matches: 412
        _tx(_put(f"Patient?identifier={SYS}|b-twin", pat)),
        # a body id that differs from the match: 400
        _tx(_put(f"Patient?identifier={SYS}|b-one", {**pat, "id": "other"})),
        # conditional reference with none / many matches: 404 / 412
        _tx(_post({"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                   "subject": {"reference": f"Patient?identifier={SYS}|b-none"}})),
        _tx(_post({"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                   "subject": {"reference": f"Patient?identifier={SYS}|b-twin"}})),
        # conditional delete and patch criteria that are not identifiers (the fallback)
        _tx({"request": {"method": "DELETE", "url": "Patient?gender=male&identifier="
                         f"{SYS}|b-one"}}),
    ]
    for bundle in cases:
        one, batched = _resolve_both(rt, bundle)
        assert batched == one, bundle
    statuses = [_resolve_both(rt, b)[0][0] for b in cases[1:6]]
    assert statuses == [412, 412, 400, 404, 412]


def test_oru_like_transaction_stores_then_updates_the_same(rt, services, ctx, stored):
    """A transaction of conditional PUTs (what the HL7 v2 converter makes): the first time all
    are created, sent again all are updated in place, nothing duplicated."""
    def bundle(n):
        entries = [_put(f"Patient?identifier={SYS}|oru-p", {
            "resourceType": "Patient", "identifier": [{"system": SYS, "value": "oru-p"}],
            "gender": "female"}, "urn:uuid:6b0d1f1c-0000-4000-8000-000000000001")]
        for i in range(n):
            entries.append(_put(f"Observation?identifier={SYS}|oru-o{i}", {
                "resourceType": "Observation", "status": "final", "code": {"text": f"t{i}"},
                "identifier": [{"system": SYS, "value": f"oru-o{i}"}],
                "subject": {"reference": "urn:uuid:6b0d1f1c-0000-4000-8000-000000000001"}}))
        return _tx(*entries)
    record = ProvenanceRecord(door="test", agent="test")
    first = services.resources.ingest(ctx, bundle(5), record)
    assert [r.outcome for r in first.entries] == [Outcome.CREATED] * 6
    again = services.resources.ingest(ctx, bundle(5), record)
    assert [r.outcome for r in again.entries] == [Outcome.UPDATED] * 6
    assert [r.stored.resource_id for r in again.entries] == \
        [r.stored.resource_id for r in first.entries]
    assert [r.stored.version for r in again.entries] == [2] * 6
    subject = again.entries[1].stored.resource()["subject"]["reference"]
    assert subject == f"Patient/{first.entries[0].stored.resource_id}"


def test_conditional_puts_that_match_nothing_create_without_a_look_up(rt, services, ctx):
    """A conditional PUT that matches nothing and has no id gets a new UUID: nothing can be
    stored under it, so no current version is read or locked for it (the ORU's 13 creates
    cost no statement beyond the criteria's lock and match). One with an id in its body
    still looks that id up and updates what is stored there."""
    body_id = "batched-body-id"
    services.resources.update(ctx, "Patient", body_id, {"resourceType": "Patient",
                                                        "id": body_id, "gender": "male"})
    bundle = _tx(
        _put(f"Patient?identifier={SYS}|gen-p", {
            "resourceType": "Patient", "identifier": [{"system": SYS, "value": "gen-p"}]}),
        _put(f"Observation?identifier={SYS}|gen-o", {
            "resourceType": "Observation", "status": "final", "code": {"text": "t"},
            "identifier": [{"system": SYS, "value": "gen-o"}]}))
    with statements_run(rt.db.engine) as statements:
        first = services.resources.ingest(ctx, bundle, ProvenanceRecord(door="t", agent="t"))
    assert [r.outcome for r in first.entries] == [Outcome.CREATED] * 2
    reads = [s for s in statements if "FROM resources" in s and "idx_token" not in s
             and "resource_aliases" not in s]
    assert reads == [], reads
    with_id = _tx(_put(f"Patient?identifier={SYS}|gen-none", {
        "resourceType": "Patient", "id": body_id, "gender": "female",
        "identifier": [{"system": SYS, "value": "gen-none"}]}))
    (entry,) = services.resources.ingest(ctx, with_id, ProvenanceRecord(
        door="t", agent="t")).entries
    assert (entry.outcome, entry.stored.resource_id, entry.stored.version) == (
        Outcome.UPDATED, body_id, 2)
