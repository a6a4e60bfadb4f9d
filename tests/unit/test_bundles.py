"""Planning of transaction / batch bundles (no database)."""
import pytest

from fhirsvc import bundles
from fhirsvc.outcomes import OperationOutcomeError


def entry(method, url, resource=None, **request):
    e = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        e["resource"] = resource
    return e


def test_split_request_url():
    assert bundles.split_request_url("Patient/1/_history/2", "x") == ("Patient", "1", "2", None)
    assert bundles.split_request_url("Patient?identifier=a|b", "x") == (
        "Patient", None, None, [("identifier", "a|b")])
    with pytest.raises(OperationOutcomeError):
        bundles.split_request_url("http://other/Patient/1", "x")


def test_processing_order_is_delete_post_put_get():
    _, ops = bundles.plan_bundle({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry("GET", "Patient/1"),
        entry("PUT", "Patient/2", {"resourceType": "Patient", "id": "2"}),
        entry("POST", "Patient", {"resourceType": "Patient"}),
        entry("DELETE", "Patient/3"),
    ]})
    assert [op.method for op in bundles.sort_for_processing(ops)] == ["DELETE", "POST", "PUT",
                                                                      "GET"]
    assert ops[2].rid and ops[2].rid != ops[1].rid  # POST gets a fresh id


def test_all_entry_problems_reported_at_once():
    with pytest.raises(OperationOutcomeError) as exc:
        bundles.plan_bundle({"resourceType": "Bundle", "type": "transaction", "entry": [
            entry("POST", "Patient"),
            entry("PUT", "Patient/1", {"resourceType": "Observation"}),
            entry("PATCH", "Patient/1"),
        ]})
    where = [e for i in exc.value.issues for e in i.expression]
    assert where == ["Bundle.entry[0].resource", "Bundle.entry[1].resource.resourceType",
                     "Bundle.entry[2].request.method"]


def test_batch_keeps_bad_entries_as_failed_ops():
    btype, ops = bundles.plan_bundle({"resourceType": "Bundle", "type": "batch", "entry": [
        entry("POST", "Patient"), entry("GET", "Patient/1")]})
    assert btype == "batch" and ops[0].method == "INVALID" and ops[1].method == "GET"


def test_rewrite_references_in_nested_places():
    res = {"subject": {"reference": "urn:uuid:a"},
           "contained": [{"resourceType": "Provenance", "target": [{"reference": "urn:uuid:a"}]}],
           "extension": [{"valueReference": {"reference": "urn:uuid:b"}}],
           "text": {"div": '<div><a href="urn:uuid:a">x</a></div>'},
           "other": {"reference": "Patient/keep"}}
    bundles.rewrite_references(res, {"urn:uuid:a": "Patient/1", "urn:uuid:b": "Encounter/2"})
    assert res["subject"]["reference"] == "Patient/1"
    assert res["contained"][0]["target"][0]["reference"] == "Patient/1"
    assert res["extension"][0]["valueReference"]["reference"] == "Encounter/2"
    assert 'href="Patient/1"' in res["text"]["div"]
    assert res["other"]["reference"] == "Patient/keep"


def test_conditional_references_found():
    res = {"subject": {"reference": "Patient?identifier=x|1"},
           "performer": [{"reference": "Practitioner/1"}, {"reference": "urn:uuid:z"}]}
    refs = set(bundles.iter_references(res))
    assert bundles.conditional_only(refs) == {"Patient?identifier=x|1"}
    assert bundles.urn_only(refs) == {"urn:uuid:z"}
