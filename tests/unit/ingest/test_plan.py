"""Planning of single interactions and transaction / batch bundles (no database)."""
import dataclasses

import pytest

from fhirsvc.ingest import plan as p
from fhirsvc.ingest.references import conditional_only, iter_references, rewritten, urn_only
from fhirsvc.outcomes import OperationOutcomeError


def entry(method, url, resource=None, **request):
    e = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        e["resource"] = resource
    return e


def bundle(btype, *entries):
    return {"resourceType": "Bundle", "type": btype, "entry": list(entries)}


def test_split_request_url():
    assert p._split_url("Patient/1/_history/2", "x") == ("Patient", "1", "2", None)
    assert p._split_url("Patient?identifier=a|b", "x") == (
        "Patient", None, None, (("identifier", "a|b"),))
    with pytest.raises(OperationOutcomeError) as exc:
        p._split_url("http://other/Patient/1", "Bundle.entry[0].request.url")
    assert exc.value.status == 400
    assert exc.value.issues[0].expression == ("Bundle.entry[0].request.url",)


def test_entries_become_typed_operations_in_processing_order():
    plan = p.plan_bundle(bundle(
        "transaction",
        entry("GET", "Patient/1"),
        entry("PUT", "Patient/2", {"resourceType": "Patient", "id": "2"}),
        entry("POST", "Patient", {"resourceType": "Patient"}, ifNoneExist="identifier=a|1"),
        entry("DELETE", "Patient/3", ifMatch='W/"4"'),
        entry("PUT", "Patient?identifier=a|2", {"resourceType": "Patient"}),
        entry("GET", "Observation?code=x"),
    ))
    kinds = [type(op) for op in plan.ops]
    assert kinds == [p.Read, p.Update, p.Create, p.Delete, p.ConditionalUpdate, p.Search]
    assert [op.method for op in p.processing_order(plan.ops)] == [
        "DELETE", "POST", "PUT", "PUT", "GET", "GET"]
    create = plan.ops[2]
    assert create.rid and create.if_none_exist == (("identifier", "a|1"),)
    assert plan.ops[3].if_match == 4
    assert plan.ops[4].criteria == (("identifier", "a|2"),)
    assert plan.ops[5].query == (("code", "x"),)


def test_plan_is_immutable():
    plan = p.plan_create("Patient", {"resourceType": "Patient"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.ops[0].rid = "other"


def test_all_entry_problems_reported_at_once():
    with pytest.raises(OperationOutcomeError) as exc:
        p.plan_bundle(bundle("transaction",
                             entry("POST", "Patient"),
                             entry("PUT", "Patient/1", {"resourceType": "Observation"}),
                             entry("PATCH", "Patient/1")))
    where = [e for i in exc.value.issues for e in i.expression]
    assert where == ["Bundle.entry[0].resource", "Bundle.entry[1].resource.resourceType",
                     "Bundle.entry[2].resource"]  # a PATCH entry needs its patch document
    assert exc.value.status == 400


def test_unknown_type_is_the_same_error_in_an_entry_as_in_a_url():
    with pytest.raises(OperationOutcomeError) as exc:
        p.plan_bundle(bundle("transaction", entry("POST", "Nope", {"resourceType": "Nope"})))
    assert exc.value.status == 404
    assert exc.value.issues[0].code == "not-supported"
    with pytest.raises(OperationOutcomeError) as url:
        p.plan_create("Nope", {"resourceType": "Nope"})
    assert (url.value.status, url.value.issues[0].code) == (404, "not-supported")


def test_batch_keeps_bad_entries_as_rejected_ops():
    plan = p.plan_bundle(bundle("batch", entry("POST", "Patient"), entry("GET", "Patient/1")))
    assert plan.kind == "batch"
    assert isinstance(plan.ops[0], p.Rejected)
    assert plan.ops[0].error.issues[0].expression == ("Bundle.entry[0].resource",)
    assert isinstance(plan.ops[1], p.Read)


def test_transaction_may_not_touch_a_resource_twice():
    with pytest.raises(OperationOutcomeError) as exc:
        p.plan_bundle(bundle("transaction",
                             entry("PUT", "Patient/1", {"resourceType": "Patient", "id": "1"}),
                             entry("DELETE", "Patient/1")))
    assert "touch a resource once" in exc.value.issues[0].message
    assert exc.value.issues[0].expression == ("Bundle.entry[1].request.url",)


def test_malformed_if_match_in_an_entry_names_it():
    with pytest.raises(OperationOutcomeError) as exc:
        p.plan_bundle(bundle("transaction", entry("DELETE", "Patient/1", ifMatch="three")))
    assert exc.value.issues[0].expression == ("Bundle.entry[0].request.ifMatch",)


def test_rewritten_replaces_references_in_nested_places_without_touching_the_input():
    res = {"subject": {"reference": "urn:uuid:a"},
           "contained": [{"resourceType": "Provenance", "target": [{"reference": "urn:uuid:a"}]}],
           "extension": [{"valueReference": {"reference": "urn:uuid:b"}}],
           "text": {"div": '<div><a href="urn:uuid:a">x</a></div>'},
           "other": {"reference": "Patient/keep"}}
    before = repr(res)
    out = rewritten(res, {"urn:uuid:a": "Patient/1", "urn:uuid:b": "Encounter/2"})
    assert repr(res) == before
    assert out["subject"]["reference"] == "Patient/1"
    assert out["contained"][0]["target"][0]["reference"] == "Patient/1"
    assert out["extension"][0]["valueReference"]["reference"] == "Encounter/2"
    assert 'href="Patient/1"' in out["text"]["div"]
    assert out["other"] is res["other"]  # unchanged parts are shared, not copied


def test_rewritten_returns_the_same_object_when_nothing_changes():
    res = {"subject": {"reference": "Patient/1"}, "text": {"div": '<div><a href="http://x/y">'
                                                             "</a></div>"}}
    assert rewritten(res, {"urn:uuid:a": "Patient/2"}) is res


def test_conditional_references_found():
    res = {"subject": {"reference": "Patient?identifier=x|1"},
           "performer": [{"reference": "Practitioner/1"}, {"reference": "urn:uuid:z"}]}
    refs = set(iter_references(res))
    assert conditional_only(refs) == {"Patient?identifier=x|1"}
    assert urn_only(refs) == {"urn:uuid:z"}
