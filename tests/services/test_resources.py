"""Resource use cases through the service layer: typed results, one pipeline for every write."""
import pytest

from fhirsvc.ingest import Outcome, ProvenanceRecord
from fhirsvc.outcomes import GoneError, OperationOutcomeError


def patient(**fields):
    return {"resourceType": "Patient", **fields}


def test_context_base_url_has_no_trailing_slash(ctx):
    assert ctx.base_url == "http://test/fhir"


def test_create_read_update_delete_are_typed(services, ctx):
    res = services.resources
    created = res.create(ctx, "Patient", patient(gender="female"))
    assert created.outcome is Outcome.CREATED and created.status == 201
    rid = created.stored.resource_id
    rep = res.read(ctx, "Patient", rid)
    assert rep.body == rep.stored.content  # served as stored, byte for byte
    updated = res.update(ctx, "Patient", rid, patient(id=rid, gender="male"))
    assert updated.outcome is Outcome.UPDATED and updated.stored.version == 2
    deleted = res.delete(ctx, "Patient", rid)
    assert deleted.outcome is Outcome.DELETED and deleted.stored.version == 3
    with pytest.raises(GoneError) as gone:
        res.read(ctx, "Patient", rid)
    assert gone.value.status == 410 and gone.value.version == 3
    again = res.delete(ctx, "Patient", rid)
    assert again.outcome is Outcome.NOTHING_DELETED and again.status == 204
    assert res.vread(ctx, "Patient", rid, "1").stored.version == 1


def test_read_with_summary_is_a_reduced_copy(services, ctx):
    res = services.resources
    rid = res.create(ctx, "Patient", patient(gender="female", text={
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'})
    ).stored.resource_id
    body = res.read(ctx, "Patient", rid, summary="text").body
    assert isinstance(body, dict) and "text" in body and "gender" not in body
    with pytest.raises(OperationOutcomeError) as exc:
        res.read(ctx, "Patient", rid, summary="bogus")
    assert exc.value.status == 400 and exc.value.issues[0].expression == ("_summary",)


def test_conditional_create_matches_instead_of_duplicating(services, ctx):
    res = services.resources
    body = patient(identifier=[{"system": "urn:test", "value": "cond-1"}])
    first = res.create(ctx, "Patient", body, "identifier=urn:test|cond-1")
    second = res.create(ctx, "Patient", body, "identifier=urn:test|cond-1")
    assert first.outcome is Outcome.CREATED
    assert second.outcome is Outcome.MATCHED and second.status == 200
    assert second.stored.resource_id == first.stored.resource_id
    assert any("nothing created" in i.message for i in second.issues)


def test_conditional_delete_without_match_deletes_nothing(services, ctx):
    result = services.resources.conditional_delete(ctx, "Patient",
                                                   [("identifier", "urn:test|none")])
    assert result.outcome is Outcome.NOTHING_DELETED and result.stored is None


def test_invalid_resource_is_422_and_not_stored(services, ctx, rt):
    with rt.db.unit_of_work() as uow:
        before = uow.resources.count("Observation")
    with pytest.raises(OperationOutcomeError) as exc:
        services.resources.create(ctx, "Observation", {"resourceType": "Observation"})
    assert exc.value.status == 422
    errors = [(i.code, i.expression, i.message.split(":")[0]) for i in exc.value.issues
              if i.is_error]
    assert errors == [("required", ("Observation",), "Observation.code"),
                      ("required", ("Observation",), "Observation.status")]
    with rt.db.unit_of_work() as uow:
        assert uow.resources.count("Observation") == before


def test_strictness_is_per_call(services, ctx):
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/x"},
                 "code": {"text": "calcinosis"}}
    assert services.resources.create(ctx, "Condition", condition).status == 201
    with pytest.raises(OperationOutcomeError) as exc:
        services.resources.create(ctx.with_(require_guide_profiles=True), "Condition",
                                  condition)
    assert exc.value.status == 422


def transaction(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_transaction_is_all_or_nothing(services, ctx, rt):
    rid = services.resources.create(ctx, "Patient", patient()).stored.resource_id
    with rt.db.unit_of_work() as uow:
        before = uow.resources.count("Basic")
    bundle = transaction(
        {"fullUrl": "urn:uuid:6b9f4a4e-0000-4000-8000-000000000001",
         "request": {"method": "POST", "url": "Basic"},
         "resource": {"resourceType": "Basic", "code": {"text": "x"}}},
        {"request": {"method": "PUT", "url": f"Patient/{rid}", "ifMatch": 'W/"9"'},
         "resource": patient(id=rid)})
    with pytest.raises(OperationOutcomeError) as exc:
        services.resources.bundle(ctx, bundle)
    assert exc.value.status == 412
    assert exc.value.issues[0].expression == ("Bundle.entry[1].resource",)
    with rt.db.unit_of_work() as uow:
        assert uow.resources.count("Basic") == before


def test_transaction_rewrites_urn_references_without_touching_the_request(services, ctx):
    urn = "urn:uuid:6b9f4a4e-0000-4000-8000-000000000002"
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": urn}}
    bundle = transaction(
        {"fullUrl": urn, "request": {"method": "POST", "url": "Patient"},
         "resource": patient()},
        {"request": {"method": "POST", "url": "Observation"}, "resource": obs})
    resp = services.resources.bundle(ctx, bundle)
    assert [e["response"]["status"] for e in resp["entry"]] == ["201 Created", "201 Created"]
    pid = resp["entry"][0]["fullUrl"].rsplit("/", 1)[1]
    oid = resp["entry"][1]["fullUrl"].rsplit("/", 1)[1]
    stored = services.resources.read(ctx, "Observation", oid).stored.resource()
    assert stored["subject"]["reference"] == f"Patient/{pid}"
    assert obs["subject"]["reference"] == urn  # the request's resource is not rewritten
    assert "id" not in bundle["entry"][0]["resource"]  # nor stamped with id and meta
    assert "meta" not in bundle["entry"][0]["resource"]


def test_batch_entries_fail_alone(services, ctx):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "POST", "url": "Patient"}, "resource": patient()},
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation"}},
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        {"request": {"method": "POST", "url": "Patient"}},
    ]}
    resp = services.resources.bundle(ctx, bundle)
    statuses = [e["response"]["status"][:3] for e in resp["entry"]]
    assert statuses == ["201", "422", "404", "400"]
    bad = resp["entry"][1]["response"]["outcome"]["issue"]
    assert {e for i in bad if i["severity"] == "error" for e in i["expression"]} == {
        "Bundle.entry[1].resource"}


def test_ingest_writes_a_provenance_in_the_same_unit_of_work(services, ctx):
    urn = "urn:uuid:6b9f4a4e-0000-4000-8000-000000000003"
    bundle = transaction(
        {"fullUrl": urn, "request": {"method": "POST", "url": "Patient"},
         "resource": patient(identifier=[{"system": "urn:mrn", "value": "p-77"}])},
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final",
                      "code": {"text": "calcium"}, "subject": {"reference": urn}}})
    record = ProvenanceRecord(door="hl7v2", agent="LAB^HOSPITAL", source_id="MSG00001",
                              source_system="urn:hl7v2:msh-10", activity="ORU^R01 converted")
    result = services.resources.ingest(ctx, bundle, record)
    assert [e.outcome for e in result.entries] == [Outcome.CREATED, Outcome.CREATED]
    prov = result.provenance.resource()
    targets = [t["reference"] for t in prov["target"]]
    assert targets == [f"{e.stored.reference}/_history/1" for e in result.entries]
    assert prov["agent"][0]["who"]["display"] == "LAB^HOSPITAL"
    assert prov["entity"][0]["what"]["identifier"]["value"] == "MSG00001"
    assert prov["meta"]["tag"][0]["code"] == "hl7v2"
    # and it is a valid R4 Provenance
    errors = [i for i in services.validate.validate(ctx, "Provenance", None, prov)
              if i.is_error]
    assert errors == []


def test_failed_ingest_writes_no_provenance(services, ctx, rt):
    with rt.db.unit_of_work() as uow:
        before = uow.resources.count("Provenance")
    bundle = transaction({"request": {"method": "POST", "url": "Observation"},
                          "resource": {"resourceType": "Observation"}})
    with pytest.raises(OperationOutcomeError):
        services.resources.ingest(ctx, bundle, ProvenanceRecord(door="hl7v2", agent="X"))
    with rt.db.unit_of_work() as uow:
        assert uow.resources.count("Provenance") == before


def test_history_pages_with_the_configured_size(services, ctx, rt):
    res = services.resources
    rid = res.create(ctx, "Patient", patient()).stored.resource_id
    for n in range(3):
        res.update(ctx, "Patient", rid, patient(id=rid, active=bool(n % 2)))
    page = res.history(ctx, "Patient", rid, [("_count", "2")])
    assert page["total"] == 4 and len(page["entry"]) == 2
    assert any(link["relation"] == "next" for link in page["link"])
    full = res.history(ctx, "Patient", rid, [])
    assert len(full["entry"]) == min(4, rt.config.default_page_size)
