"""What a search reaches beyond its own type is scope-checked, not only what it returns:
chains, nested `_has`, `_filter`, the criteria of conditional writes, conditional references
and Bulk Data `_typeFilter` (SQLite and PostgreSQL, FHIRSVC_AUTH=smart).

A token that may search Observations but not Patients must not learn which Observations
belong to a patient called "One" through `subject:Patient.name=One`, nor whether a patient
with some identifier exists through a conditional reference."""
from __future__ import annotations

import json

import pytest

from fhirsvc.search import criteria as c
from fhirsvc.security.guard import joined_paths, typed_chain

OBS = "system/Observation.rs"
OBS_PAT = "system/Observation.rs system/Patient.rs"
ASYNC = {"Prefer": "respond-async"}


def diagnostics(resp) -> str:
    return " ".join(i.get("diagnostics") or i.get("details", {}).get("text", "")
                    for i in resp.get_json()["issue"])


def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return {e["resource"]["id"] for e in resp.get_json().get("entry", ())
            if e.get("search", {}).get("mode", "match") == "match"}


def refused(resp, scope: str):
    assert resp.status_code == 403, resp.get_data(as_text=True)[:500]
    assert resp.get_json()["issue"][0]["code"] == "forbidden"
    assert scope in diagnostics(resp), diagnostics(resp)


# -- chains ------------------------------------------------------------------------------------
def test_typed_chain_needs_search_on_the_joined_type(call):
    refused(call("GET", "/Observation?subject:Patient.name=One", OBS), "system/Patient.s")
    assert ids(call("GET", "/Observation?subject:Patient.name=One", OBS_PAT)) == {"o1", "o3"}


def test_chain_of_two_levels_checks_every_hop(call):
    # Observation -> Patient -> Organization (general-practitioner / organization)
    refused(call("GET", "/Observation?subject:Patient.organization:Organization.name=X",
                 OBS_PAT), "system/Organization.s")
    assert ids(call("GET", "/Observation?subject:Patient.organization:Organization.name=X",
                    OBS_PAT + " system/Organization.rs")) == set()


def test_untyped_chain_is_narrowed_to_the_one_searchable_target(call):
    # subject targets Patient, Group, Device, Location: only Patient may be searched, so
    # the chain runs through Patient alone (the same answer as subject:Patient.name)
    assert ids(call("GET", "/Observation?subject.name=One", OBS_PAT)) == {"o1", "o3"}
    # with no searchable target at all it is a 403 naming a scope
    refused(call("GET", "/Observation?subject.name=One", OBS), "Patient")


def test_untyped_chain_with_several_searchable_targets_asks_for_the_type(call):
    # every subject target has `identifier`: Patient and Group granted, Device not
    scope = OBS_PAT + " system/Group.rs"
    resp = call("GET", "/Observation?subject.identifier=x", scope)
    refused(resp, "Insufficient scope: subject.identifier joins Device")
    assert "name the type of the chain (e.g. subject:Group.identifier)" in diagnostics(resp)
    everything = "system/Observation.rs system/*.s"
    assert ids(call("GET", "/Observation?subject.name=One", everything)) == {"o1", "o3"}


def test_patient_limited_scope_cannot_join(call):
    # patient/ scopes reach one patient's compartment: a join would test resources outside it
    resp = call("GET", "/Observation?performer:Practitioner.name=Doc", "patient/*.rs", "p1")
    refused(resp, "performer:Practitioner.name joins Practitioner")
    resp = call("GET", "/Observation?subject:Patient.name=Two",
                "patient/Observation.rs patient/Patient.rs", "p1")
    refused(resp, "system/Patient.s")
    assert "patient/Patient.rs" in diagnostics(resp)   # the limiting scope is named


def test_chain_in_a_system_search_of_one_type(call):
    assert ids(call("GET", "/?_type=Observation&subject:Patient.name=One", OBS_PAT)) \
        == {"o1", "o3"}
    refused(call("GET", "/?_type=Observation&subject:Patient.name=One", OBS),
            "system/Patient.s")


# -- _has --------------------------------------------------------------------------------------
def test_has_needs_search_on_the_source_type(call):
    refused(call("GET", "/Patient?_has:Observation:subject:category=laboratory", "system/Patient.rs"),
            "system/Observation.s")
    assert ids(call("GET", "/Patient?_has:Observation:subject:category=laboratory", OBS_PAT)) \
        == {"p1"}


def test_nested_has_checks_each_level(call):
    path = "/Patient?_has:Observation:subject:_has:Provenance:target:agent=Practitioner/pr1"
    refused(call("GET", path, OBS_PAT), "system/Provenance.s")
    assert ids(call("GET", path, OBS_PAT + " system/Provenance.rs")) == set()


def test_search_bundle_entry_is_checked_the_same(call):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation?subject:Patient.name=One"}}]}
    resp = call("POST", "/", OBS, json=bundle)
    assert resp.status_code == 200
    entry = resp.get_json()["entry"][0]
    assert entry["response"]["status"].startswith("403")
    assert "system/Patient.s" in str(entry["response"]["outcome"])


def test_post_search_is_checked_the_same(call):
    resp = call("POST", "/Observation/_search", OBS, data="subject:Patient.name=One",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    refused(resp, "system/Patient.s")


# -- _filter -----------------------------------------------------------------------------------
def test_filter_without_joins_passes_and_cannot_chain(call):
    assert ids(call("GET", "/Observation?_filter=status eq final and category eq laboratory", OBS)) \
        == {"o1"}
    # _filter takes plain names only: a chained path is a 400, never a silent join
    assert call("GET", "/Observation?_filter=subject.name eq One",
                OBS_PAT).status_code == 400


def test_joins_inside_filter_groups_are_found():
    inner = c.ChainClause("Observation", "subject", (("Patient", c.ConstantClause(True)),))
    has = c.HasClause("Patient", "Observation", "subject", c.ConstantClause(True))
    tree = c.AnyClause((c.NotClause(inner), c.AllClause((has,))))
    assert joined_paths(tree) == [("Patient",), ("Observation",)]
    nested = c.ChainClause("Observation", "subject", (
        ("Patient", c.ChainClause("Patient", "organization", (
            ("Organization", c.ConstantClause(True)),))),))
    assert joined_paths(nested) == [("Patient", "Organization")]
    assert typed_chain("subject.organization.name", ("Patient", "Organization")) == \
        "subject:Patient.organization:Organization.name"


# -- conditional writes ------------------------------------------------------------------------
def obs(subject: str, ident: str = "x") -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "cond"},
            "identifier": [{"system": "urn:reach", "value": ident}],
            "subject": {"reference": subject}}


def test_conditional_reference_needs_search_on_its_type(call, smart_runtime):
    rt = smart_runtime
    rt.services.resources.update(rt.context(), "Patient", "p9", {
        "resourceType": "Patient", "id": "p9",
        "identifier": [{"system": "urn:mrn", "value": "9"}]})
    scope = "system/Observation.c"
    # exists and does not exist get the same answer: 403, before anything is looked up
    there = call("POST", "/Observation", scope, json=obs("Patient?identifier=urn:mrn|9"))
    absent = call("POST", "/Observation", scope, json=obs("Patient?identifier=urn:mrn|nope"))
    refused(there, "system/Patient.s")
    refused(absent, "system/Patient.s")
    assert diagnostics(there).replace("|9", "|nope") == diagnostics(absent)
    # a patient-limited search scope does not do either
    resp = call("POST", "/Observation", "patient/Observation.c patient/Patient.s", "p9",
                json=obs("Patient?identifier=urn:mrn|9"))
    refused(resp, "system/Patient.s")
    ok = call("POST", "/Observation", scope + " system/Patient.s",
              json=obs("Patient?identifier=urn:mrn|9"))
    assert ok.status_code == 201, ok.get_data(as_text=True)
    assert ok.get_json()["subject"]["reference"] == "Patient/p9"


def test_conditional_reference_in_a_transaction(call):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:4a1b7c1e-0000-4000-8000-000000000001",
         "resource": obs("Patient?identifier=urn:mrn|9"),
         "request": {"method": "POST", "url": "Observation"}}]}
    resp = call("POST", "/", "system/Observation.c", json=bundle)
    refused(resp, "system/Patient.s")
    assert "Bundle.entry[0]" in str(resp.get_json())


def test_conditional_reference_in_patch_values_needs_search_on_its_type(call, smart_runtime):
    """A PATCH that writes `Patient?identifier=...` is a conditional reference like any
    other: JSON Patch, Merge Patch and FHIRPath Patch values, alone and in a transaction."""
    rt = smart_runtime
    rt.services.resources.update(rt.context(), "Patient", "p9", {
        "resourceType": "Patient", "id": "p9",
        "identifier": [{"system": "urn:mrn", "value": "9"}]})
    rt.services.resources.update(rt.context(), "Observation", "op1", {
        **obs("Patient/p1"), "id": "op1"})
    ref = "Patient?identifier=urn:mrn|9"
    json_patch = [{"op": "replace", "path": "/subject", "value": {"reference": ref}}]
    json_patch_string = [{"op": "replace", "path": "/subject/reference", "value": ref}]
    merge = {"subject": {"reference": ref}}
    fhirpath = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString":
                                                   "Observation.subject"},
        {"name": "value", "valueReference": {"reference": ref}}]}]}
    cases = [("application/json-patch+json", json_patch),
             ("application/json-patch+json", json_patch_string),
             ("application/merge-patch+json", merge),
             ("application/fhir+json", fhirpath)]
    scope = "system/Observation.rus"
    for mimetype, body in cases:
        resp = call("PATCH", "/Observation/op1", scope, data=json.dumps(body),
                    headers={"Content-Type": mimetype})
        refused(resp, "system/Patient.s")
    current = call("GET", "/Observation/op1", scope).get_json()
    assert current["subject"]["reference"] == "Patient/p1" and current["meta"]["versionId"] \
        == "1"
    # in a transaction: located in the entry (FHIRPath Patch is the Bundle form of PATCH)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": fhirpath, "request": {"method": "PATCH", "url": "Observation/op1"}}]}
    resp = call("POST", "/", scope, json=bundle)
    refused(resp, "system/Patient.s")
    assert "Bundle.entry[0]" in str(resp.get_json())
    # with search on Patient each is applied and resolved to the matching patient
    for mimetype, body in cases:
        resp = call("PATCH", "/Observation/op1", scope + " system/Patient.s",
                    data=json.dumps(body), headers={"Content-Type": mimetype})
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        assert resp.get_json()["subject"]["reference"] == "Patient/p9"


def test_conditional_criteria_that_join_need_search_on_the_joined_type(call):
    scope = "system/Observation.cud"
    # conditional update / delete / create whose criteria chain into Patient
    refused(call("PUT", "/Observation?subject:Patient.name=One", scope,
                 json=obs("Patient/p1")), "system/Patient.s")
    refused(call("DELETE", "/Observation?subject:Patient.name=One", scope), "system/Patient.s")
    refused(call("POST", "/Observation", scope, json=obs("Patient/p1"),
                 headers={"If-None-Exist": "subject:Patient.name=One"}), "system/Patient.s")
    refused(call("DELETE", "/Observation?_has:Provenance:target:agent=Practitioner/pr1",
                 scope + " system/Patient.s"), "system/Provenance.s")
    # an untyped chain in write criteria is never narrowed (it would change what matches)
    refused(call("DELETE", "/Observation?subject.name=Nobody", scope + " system/Patient.s"),
            "system/")
    # with the scope, the criteria run (nothing matches this name: deleted nothing)
    assert call("DELETE", "/Observation?subject:Patient.name=Nobody",
                scope + " system/Patient.s").status_code in (200, 204)


# -- Bulk Data _typeFilter ---------------------------------------------------------------------
def test_typefilter_joins_need_whole_types(call):
    path = "/$export?_type=Observation&_typeFilter=Observation%3Fsubject:Patient.name%3DOne"
    refused(call("GET", path, "system/Observation.rs", headers=ASYNC), "system/Patient.s")
    assert call("GET", path, "system/Observation.rs system/Patient.s",
                headers=ASYNC).status_code == 202


# -- user/ scopes are bounded by the user's own grants ------------------------------------------
def test_user_scopes_are_bounded_by_the_users_grants(smart_runtime):
    from fhirsvc.outcomes import OperationOutcomeError
    guard = smart_runtime.services.guard
    base = smart_runtime.context().with_(enforce=True, caller="app", user="Practitioner/pr1")
    # no user directory in play (user_scopes None): user/ scopes grant what they say
    ctx = base.with_(scopes=frozenset({"user/*.rs"}))
    assert guard.require(ctx, "Observation", "r").unrestricted
    # the directory lets this user read Patients only: user/*.rs reaches no further
    ctx = base.with_(scopes=frozenset({"user/*.rs"}),
                     user_scopes=frozenset({"user/Patient.rs"}))
    assert guard.require(ctx, "Patient", "s").unrestricted
    with pytest.raises(OperationOutcomeError) as exc:
        guard.require(ctx, "Observation", "r")
    assert exc.value.status == 403
    # a letter the token lacks is not added by the user's grants
    ctx = base.with_(scopes=frozenset({"user/Patient.r"}),
                     user_scopes=frozenset({"user/*.cruds"}))
    assert not guard.permits(ctx, "Patient", "u")
    # the user's query constraint applies to the token's unconstrained scope
    lab = "user/Observation.rs?category=laboratory"
    ctx = base.with_(scopes=frozenset({"user/Observation.rs"}), user_scopes=frozenset({lab}))
    access = guard.require(ctx, "Observation", "s")
    assert not access.unrestricted and access.limits[0].query == (("category", "laboratory"),)
    # system/ scopes are the client's own: the user directory does not narrow them
    ctx = base.with_(scopes=frozenset({"system/Observation.rs"}), user_scopes=frozenset())
    assert guard.require(ctx, "Observation", "r").unrestricted


def test_user_scope_bounds_reach_http(call, smart_runtime):
    # over HTTP a token's user/ scope without a directory behaves as before
    assert ids(call("GET", "/Observation?subject:Patient.name=One", "user/*.rs")) == {"o1", "o3"}
