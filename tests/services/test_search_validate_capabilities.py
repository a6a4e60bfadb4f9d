"""Search, $validate and capabilities through the service layer."""
import pytest

from fhirsvc.outcomes import OperationOutcomeError


def test_search_strict_handling_comes_from_the_context(services, ctx):
    lenient = services.search.search(ctx, "Patient", [("nonsense", "1")])
    outcome = lenient["entry"][0]
    assert outcome["search"]["mode"] == "outcome"
    assert "nonsense" in outcome["resource"]["issue"][0]["details"]["text"]
    with pytest.raises(OperationOutcomeError) as exc:
        services.search.search(ctx.with_(strict_handling=True), "Patient", [("nonsense", "1")])
    assert exc.value.status == 400 and exc.value.issues[0].expression == ("nonsense",)


def test_search_links_use_the_context_base(services, ctx):
    bundle = services.search.search(ctx, "Patient", [("_count", "1")])
    assert bundle["link"][0]["url"].startswith("http://test/fhir/Patient?")


def test_unknown_type_is_404_not_supported(services, ctx):
    for call in (lambda: services.search.search(ctx, "Nope", []),
                 lambda: services.resources.read(ctx, "Nope", "1"),
                 lambda: services.resources.create(ctx, "Nope", {"resourceType": "Nope"})):
        with pytest.raises(OperationOutcomeError) as exc:
            call()
        assert (exc.value.status, exc.value.issues[0].code) == (404, "not-supported")


def test_validate_modes(services, ctx):
    issues = services.validate.validate(ctx, "Patient", None, {"resourceType": "Patient",
                                                               "gender": "nope"})
    assert [i.expression for i in issues if i.is_error] == [("Patient.gender",)]
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "id": "a"}},
        {"name": "mode", "valueCode": "update"}]}
    issues = services.validate.validate(ctx, "Patient", "b", params)
    assert [i.expression for i in issues if i.is_error] == [("Patient.id",)]
    with pytest.raises(OperationOutcomeError) as exc:
        services.validate.validate(ctx, "Patient", "unknown", {
            "resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "delete"}]})
    assert exc.value.status == 404
    with pytest.raises(OperationOutcomeError) as exc:
        services.validate.validate(ctx, "Patient", None, {
            "resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "x"}]})
    assert exc.value.status == 400


def test_capabilities_list_exactly_what_the_door_routes(services, ctx):
    cs = services.capabilities.capabilities(ctx, [("read", "instance"), ("transaction", "system")],
                                            [])
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert [i["code"] for i in patient["interaction"]] == ["read"]
    assert cs["rest"][0]["interaction"] == [{"code": "transaction"}]
    assert "searchParam" not in patient  # no search-type interaction routed
    assert cs["implementation"]["url"] == "http://test/fhir"
