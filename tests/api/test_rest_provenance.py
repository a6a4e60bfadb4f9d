"""Provenance of the REST doors (issue 13): every single write, transaction and batch entry
gets a Provenance written in the unit of work of the change, naming the token's client, what
was done (v3-DataOperation) and the request; FHIRSVC_REST_PROVENANCE; no recursion; the
Patient compartment as R4 defines it (SQLite and PostgreSQL, FHIRSVC_AUTH=smart)."""
from __future__ import annotations

import json
import uuid

import pytest

from fhirsvc import create_app
from fhirsvc.bootstrap import build
from fhirsvc.config import Config
from fhirsvc.context import DOOR_REST

from tests.security.smart_support import mint

BASE = "http://localhost/fhir"
ALL = "system/*.cruds"
CLIENT = "prov-client"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
DOOR = "http://fhirsvc.org/fhir/ingest-door"
REQUEST_ID = "urn:fhirsvc:request-id"


@pytest.fixture(scope="module")
def smart(db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prov")
    config = Config(database_url=db_url, examples_dir=tmp, auth="smart",
                    auth_signing_key=str(tmp / "signing.pem"), audit_flush_interval=0.05)
    app = create_app(config)
    rt = app.extensions["fhirsvc.runtime"]
    yield app, rt, config
    rt.close()


class Call:
    def __init__(self, app, rt):
        self.client = app.test_client()
        self.rt = rt

    def __call__(self, method, path, body=None, scope=ALL, client=CLIENT, headers=None,
                 content_type="application/fhir+json"):
        h = {"Authorization": "Bearer " + mint(self.rt, scope, aud=BASE, client=client),
             **(headers or {})}
        data = None if body is None else json.dumps(body)
        return self.client.open("/fhir" + path, method=method, headers=h, data=data,
                                content_type=content_type if body is not None else None)


@pytest.fixture()
def call(smart):
    app, rt, _ = smart
    return Call(app, rt)


def provenance_of(call, ref: str) -> list[dict]:
    resp = call("GET", f"/Provenance?target={ref}&_count=100")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return [e["resource"] for e in resp.get_json().get("entry", ())]


def count_provenance(rt) -> int:
    with rt.db.unit_of_work() as uow:
        return sum(1 for s in uow.resources.iter_current() if s.resource_type == "Provenance")


def activity(prov: dict) -> str | None:
    codings = prov.get("activity", {}).get("coding") or [{}]
    assert codings[0].get("system", DATA_OPERATION) == DATA_OPERATION
    return codings[0].get("code")


def uid() -> str:
    return uuid.uuid4().hex[:12]


def patient(pid: str | None = None, family: str = "Zyxwvu") -> dict:
    res = {"resourceType": "Patient", "name": [{"family": family}]}
    if pid:
        res["id"] = pid
    return res


# -- single writes -------------------------------------------------------------------------
def test_single_writes_each_get_a_provenance_of_the_caller(call, smart):
    rid_header = {"X-Request-Id": "req-" + uid()}
    resp = call("POST", "/Patient", patient(), headers=rid_header)
    assert resp.status_code == 201
    pid = resp.get_json()["id"]
    (prov,) = provenance_of(call, f"Patient/{pid}")
    assert prov["target"] == [{"reference": f"Patient/{pid}/_history/1"}]
    assert activity(prov) == "CREATE"
    assert prov["recorded"].endswith("Z")
    assert prov["meta"]["tag"][0] == {"system": DOOR, "code": DOOR_REST}
    (agent,) = prov["agent"]
    assert agent["who"]["identifier"]["value"] == CLIENT
    assert agent["type"]["coding"][0]["code"] == "author"
    # the request, not the body
    (entity,) = prov["entity"]
    assert entity["role"] == "source"
    assert entity["what"]["identifier"] == {"system": REQUEST_ID,
                                            "value": rid_header["X-Request-Id"]}
    assert entity["what"]["display"] == "POST Patient"
    assert "Zyxwvu" not in json.dumps(prov)
    # a valid R4 Provenance (the pipeline writes it without the validator in its way)
    issues = smart[1].services.resources.pipeline.validator.validate(prov, strict=False)
    assert not [i for i in issues if i.severity in ("error", "fatal")], issues

    assert call("PUT", f"/Patient/{pid}", {**patient(pid), "gender": "female"}).status_code \
        == 200
    patch = [{"op": "replace", "path": "/gender", "value": "male"}]
    assert call("PATCH", f"/Patient/{pid}", patch,
                content_type="application/json-patch+json").status_code == 200
    assert call("DELETE", f"/Patient/{pid}").status_code in (200, 204)
    provs = provenance_of(call, f"Patient/{pid}")
    by_target = {p["target"][0]["reference"]: p for p in provs}
    assert set(by_target) == {f"Patient/{pid}/_history/{v}" for v in (1, 2, 3, 4)}
    assert [activity(by_target[f"Patient/{pid}/_history/{v}"]) for v in (2, 3, 4)] == \
        ["UPDATE", "UPDATE", "DELETE"]    # the delete's Provenance targets the deleted version
    assert by_target[f"Patient/{pid}/_history/3"]["entity"][0]["what"]["display"] == \
        f"PATCH Patient/{pid}"
    assert by_target[f"Patient/{pid}/_history/4"]["entity"][0]["what"]["display"] == \
        f"DELETE Patient/{pid}"


def test_conditional_writes_name_their_criteria_and_what_they_did(call):
    ident = uid()
    body = {**patient(), "identifier": [{"system": "urn:prov", "value": ident}]}
    resp = call("PUT", f"/Patient?identifier=urn:prov|{ident}", body)
    assert resp.status_code == 201          # a conditional update that creates
    pid = resp.get_json()["id"]
    (prov,) = provenance_of(call, f"Patient/{pid}")
    assert activity(prov) == "CREATE"
    assert prov["entity"][0]["what"]["display"].startswith("PUT Patient?identifier=")
    # ifNoneExist that matches writes nothing, and so no Provenance
    before = len(provenance_of(call, f"Patient/{pid}"))
    again = call("POST", "/Patient", body, headers={"If-None-Exist":
                                                    f"identifier=urn:prov|{ident}"})
    assert again.status_code == 200
    assert len(provenance_of(call, f"Patient/{pid}")) == before


def test_a_failing_write_leaves_no_provenance(call, smart):
    rt = smart[1]
    pid = "pf-" + uid()
    assert call("PUT", f"/Patient/{pid}", patient(pid)).status_code == 201
    n = count_provenance(rt)
    resp = call("PUT", f"/Patient/{pid}", patient(pid), headers={"If-Match": 'W/"7"'})
    assert resp.status_code == 412
    assert call("POST", "/Patient", {"resourceType": "Patient", "gender": "nope"}
                ).status_code == 422
    assert count_provenance(rt) == n


def test_provenance_and_audit_writes_never_recurse(call, smart):
    rt = smart[1]
    pid = "pr-" + uid()
    call("PUT", f"/Patient/{pid}", patient(pid))
    n = count_provenance(rt)
    own = {"resourceType": "Provenance", "target": [{"reference": f"Patient/{pid}"}],
           "recorded": "2026-01-01T00:00:00Z", "agent": [{"who": {"display": "someone"}}]}
    resp = call("POST", "/Provenance", own)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert count_provenance(rt) == n + 1        # the one posted, no Provenance of it
    assert provenance_of(call, f"Provenance/{resp.get_json()['id']}") == []
    # AuditEvent cannot be written through the API at all (no Provenance of the attempt)
    assert call("POST", "/AuditEvent", {"resourceType": "AuditEvent"}).status_code == 405
    assert count_provenance(rt) == n + 1


# -- Bundles --------------------------------------------------------------------------------
def transaction(*entries, btype="transaction", identifier=None) -> dict:
    b = {"resourceType": "Bundle", "type": btype, "entry": list(entries)}
    if identifier:
        b["identifier"] = identifier
    return b


def test_a_transaction_gets_one_provenance_of_every_entry_written(call, smart):
    rt = smart[1]
    pid, ident = "pt-" + uid(), uid()
    call("PUT", f"/Patient/{pid}", patient(pid))
    urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = transaction(
        {"fullUrl": urn, "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "t"},
                      "subject": {"reference": urn}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {**patient(pid), "gender": "other"},
         "request": {"method": "PUT", "url": f"Patient/{pid}"}},
        {"request": {"method": "GET", "url": f"Patient/{pid}"}},
        identifier={"system": "urn:sender", "value": ident})
    resp = call("POST", "", bundle, headers={"X-Request-Id": "tx-" + ident})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:800]
    locations = [e["response"].get("location") for e in resp.get_json()["entry"]]
    (prov,) = [p for p in provenance_of(call, f"Patient/{pid}")
               if p["meta"]["tag"][0]["code"] == "transaction"]
    assert sorted(t["reference"] for t in prov["target"]) == sorted(locations[:3])
    assert "coding" not in prov["activity"]          # create and update together
    assert prov["activity"]["text"] == "2 create, 1 revise"
    assert prov["agent"][0]["who"]["identifier"]["value"] == CLIENT
    req, sent = prov["entity"]
    assert req["what"]["identifier"]["value"] == "tx-" + ident
    assert req["what"]["display"] == "transaction Bundle of 4 entries"
    assert sent["what"]["identifier"] == {"system": "urn:sender", "value": ident}
    # every target finds the same one Provenance
    obs_ref = locations[1].split("/_history")[0]
    assert [p["id"] for p in provenance_of(call, obs_ref)] == [prov["id"]]

    # a transaction that fails inside its unit of work leaves neither change nor Provenance
    n = count_provenance(rt)
    failing = transaction(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(pid), "request": {"method": "PUT", "url": f"Patient/{pid}",
                                               "ifMatch": 'W/"99"'}})
    assert call("POST", "", failing).status_code == 412
    assert count_provenance(rt) == n
    # a read-only transaction writes nothing
    assert call("POST", "", transaction({"request": {"method": "GET", "url": f"Patient/{pid}"}})
                ).status_code == 200
    assert count_provenance(rt) == n


def test_a_batch_gets_one_provenance_per_written_entry(call, smart):
    rt = smart[1]
    pid = "pb-" + uid()
    call("PUT", f"/Patient/{pid}", patient(pid))
    n = count_provenance(rt)
    bundle = transaction(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(pid), "request": {"method": "PUT", "url": f"Patient/{pid}",
                                               "ifMatch": 'W/"99"'}},     # fails alone
        {"request": {"method": "DELETE", "url": f"Patient/{pid}"}},
        {"request": {"method": "GET", "url": "Patient?_count=1"}},
        btype="batch")
    resp = call("POST", "", bundle)
    assert resp.status_code == 200
    statuses = [e["response"]["status"][:3] for e in resp.get_json()["entry"]]
    assert statuses[:2] == ["201", "412"] and statuses[2] in ("200", "204")
    assert count_provenance(rt) == n + 2
    (deleted,) = [p for p in provenance_of(call, f"Patient/{pid}")
                  if p["meta"]["tag"][0]["code"] == "batch"]
    assert activity(deleted) == "DELETE"
    assert deleted["target"] == [{"reference": f"Patient/{pid}/_history/2"}]
    assert deleted["entity"][0]["what"]["display"] == \
        f"batch Bundle of 4 entries, entry 2: DELETE Patient/{pid}"


# -- the compartment, $everything, the CapabilityStatement -----------------------------------
def test_everything_has_the_provenance_of_the_patient_as_r4_defines_it(call):
    # R4 Patient compartment: Provenance by `patient` = target.where(resolve() is Patient):
    # the Provenance naming the Patient is in it; one naming only an Observation of the
    # patient is not (it is found by target, or by _revinclude=Provenance:target)
    pid = "pe-" + uid()
    call("PUT", f"/Patient/{pid}", patient(pid))
    obs = call("POST", "/Observation", {"resourceType": "Observation", "status": "final",
                                        "code": {"text": "e"},
                                        "subject": {"reference": f"Patient/{pid}"}})
    oid = obs.get_json()["id"]
    resp = call("GET", f"/Patient/{pid}/$everything")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    got = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in
           resp.get_json()["entry"]}
    (of_patient,) = provenance_of(call, f"Patient/{pid}")
    (of_obs,) = provenance_of(call, f"Observation/{oid}")
    assert {("Patient", pid), ("Observation", oid), ("Provenance", of_patient["id"])} <= got
    assert ("Provenance", of_obs["id"]) not in got
    found = call("GET", f"/Provenance?patient={pid}").get_json()
    assert [e["resource"]["id"] for e in found.get("entry", ())] == [of_patient["id"]]
    rev = call("GET", f"/Observation?_id={oid}&_revinclude=Provenance:target").get_json()
    assert ("Provenance", of_obs["id"]) in {
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in rev["entry"]}


def test_capability_statement_still_describes_provenance(call):
    resp = call("GET", "/metadata")
    assert resp.status_code == 200
    (prov,) = [r for r in resp.get_json()["rest"][0]["resource"] if r["type"] == "Provenance"]
    assert {"target", "patient"} <= {p["name"] for p in prov.get("searchParam", ())}


# -- the setting ----------------------------------------------------------------------------
def _written(rt, mode_ctx):
    """Provenance count added by one create and one transaction of one entry."""
    n = count_provenance(rt)
    rt.services.resources.create(mode_ctx, "Patient", patient())
    single = count_provenance(rt) - n
    rt.services.resources.bundle(mode_ctx, transaction(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}}))
    return single, count_provenance(rt) - n - single


@pytest.mark.parametrize("mode,expected", [("on", (1, 1)), ("transactions", (0, 1)),
                                           ("off", (0, 0))])
def test_the_setting(smart, mode, expected):
    config = smart[2].with_(rest_provenance=mode, auth="off")
    rt = build(config)
    try:
        ctx = rt.context(door=DOOR_REST)
        assert _written(rt, ctx) == expected
        # the operator's own door (CLI) writes none, whatever the setting
        assert _written(rt, rt.context()) == (0, 0)
    finally:
        rt.close()


def test_without_authentication_the_agent_says_so(smart):
    rt = build(smart[2].with_(auth="off"))
    try:
        ctx = rt.context(door=DOOR_REST, source="192.0.2.7")
        stored = rt.services.resources.create(ctx, "Patient", patient()).stored
        with rt.db.unit_of_work() as uow:
            provs = [s.resource() for s in uow.resources.iter_current()
                     if s.resource_type == "Provenance" and f"Patient/{stored.resource_id}/"
                     in s.content]
        (prov,) = provs
        assert prov["agent"][0]["who"] == {
            "display": "unauthenticated client at 192.0.2.7 (auth off)"}
    finally:
        rt.close()


def test_an_unknown_setting_is_refused(smart):
    with pytest.raises(ValueError, match="FHIRSVC_REST_PROVENANCE"):
        build(smart[2].with_(rest_provenance="sometimes"))


def test_provenance_commits_with_the_change_or_not_at_all(smart, monkeypatch):
    """A failure after the Provenance is written (here: in the audit rows that follow it in
    the same unit of work) takes the change and its Provenance back together."""
    from fhirsvc.ingest import pipeline as pipeline_module
    rt = build(smart[2].with_(auth="off"))
    try:
        ctx = rt.context(door=DOOR_REST)
        n = count_provenance(rt)
        written = []
        real = pipeline_module.IngestPipeline._write_provenance

        def spy(uow, record, results, ctx=None):
            written.append(real(uow, record, results, ctx))
            return written[-1]

        def broken(ctx, results):
            raise RuntimeError("audit write failed")
        monkeypatch.setattr(pipeline_module.IngestPipeline, "_write_provenance",
                            staticmethod(spy))
        monkeypatch.setattr(pipeline_module, "change_rows", broken)
        pid = "pc-" + uid()
        for write in (lambda: rt.services.resources.update(ctx, "Patient", pid, patient(pid)),
                      lambda: rt.services.resources.bundle(ctx, transaction(
                          {"resource": patient(pid), "request": {"method": "PUT",
                                                                 "url": f"Patient/{pid}"}}))):
            with pytest.raises(RuntimeError):
                write()
        assert len(written) == 2 and all(w is not None for w in written)  # were written ...
        assert count_provenance(rt) == n                                   # ... and rolled back
        with rt.db.unit_of_work() as uow:
            assert uow.resources.read("Patient", pid) is None
    finally:
        rt.close()


def test_a_patient_app_never_sees_a_provenance_naming_other_patients(call, smart):
    """A transaction's Provenance names every entry it wrote, whoever's. A `patient/*.read`
    client of patient A sees such a Provenance only when everything it names is in A's
    compartment: one naming Patient B or B's Observation would hand it their ids. Search,
    compartment search, _revinclude, $everything and read agree; other callers still see it
    as R4 defines the compartment."""
    app, rt, _ = smart
    a, b = "pa-" + uid(), "pb-" + uid()

    def tx(*entries):
        resp = call("POST", "", transaction(*entries))
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        return [e["response"]["location"].split("/_history")[0] for e in resp.get_json()["entry"]]

    def obs(pid):
        return {"resource": {"resourceType": "Observation", "status": "final",
                             "code": {"text": "t"}, "subject": {"reference": f"Patient/{pid}"}},
                "request": {"method": "POST", "url": "Observation"}}
    put = lambda pid: {"resource": patient(pid),  # noqa: E731
                       "request": {"method": "PUT", "url": f"Patient/{pid}"}}
    mixed_locs = tx(put(a), put(b), obs(b))
    own_locs = tx(put(a), obs(a))
    (mixed,) = [p for p in provenance_of(call, mixed_locs[2]) if len(p["target"]) == 3]
    (own,) = [p for p in provenance_of(call, own_locs[1]) if len(p["target"]) == 2]

    app_call = app.test_client()
    h = {"Authorization": "Bearer " + mint(rt, "patient/*.read", aud=BASE, patient=a,
                                           client="patient-app")}

    def provenance_ids(path):
        resp = app_call.get("/fhir" + path, headers=h)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        return {e["resource"]["id"] for e in resp.get_json().get("entry", ())
                if e["resource"]["resourceType"] == "Provenance"}
    for path in (f"/Provenance?patient={a}", "/Provenance", f"/Patient/{a}/Provenance",
                 f"/Provenance?target=Patient/{b}", f"/Patient/{a}/$everything",
                 f"/Patient?_id={a}&_revinclude=Provenance:target"):
        seen = provenance_ids(path)
        assert mixed["id"] not in seen, path
        if "target=Patient/" not in path:
            assert own["id"] in seen, path          # its own record is still there
    assert app_call.get(f"/fhir/Provenance/{mixed['id']}", headers=h).status_code == 403
    assert app_call.get(f"/fhir/Provenance/{own['id']}", headers=h).status_code == 200
    history = app_call.get(f"/fhir/Provenance/{mixed['id']}/_history", headers=h)
    assert history.status_code == 403 or not history.get_json().get("entry")
    # an unrestricted caller: R4's compartment (Provenance by `patient`) holds both
    everyone = call("GET", f"/Patient/{a}/Provenance?_count=100").get_json()
    assert {mixed["id"], own["id"]} <= {e["resource"]["id"] for e in everyone["entry"]}


def test_everything_does_not_follow_a_mixed_provenance_into_another_patient(call, smart):
    """A transaction's Provenance naming Patients A and B and B's Observation is in A's
    compartment (R4: Provenance by `patient`) and comes with A's $everything as it is stored,
    but what it refers to of B (Patient B, B's Observation) is B's record, not a resource
    "referenced from" A's: it must not come along, for an unrestricted caller or for A's
    patient app. A Practitioner it names still comes along."""
    app, rt, _ = smart
    a, b, doc = "ma-" + uid(), "mb-" + uid(), "md-" + uid()
    call("PUT", f"/Practitioner/{doc}", {"resourceType": "Practitioner", "id": doc})

    def entry(res, method="POST", url=None):
        return {"resource": res, "request": {"method": method, "url": url or res["resourceType"]}}

    def obs(pid):
        return entry({"resourceType": "Observation", "status": "final", "code": {"text": "m"},
                      "subject": {"reference": f"Patient/{pid}"},
                      "performer": [{"reference": f"Practitioner/{doc}"}]})
    resp = call("POST", "", transaction(entry(patient(a), "PUT", f"Patient/{a}"),
                                        entry(patient(b), "PUT", f"Patient/{b}"),
                                        obs(a), obs(b)))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    obs_a, obs_b = [e["response"]["location"].split("/")[1] for e in resp.get_json()["entry"][2:]]
    (mixed,) = [p for p in provenance_of(call, f"Observation/{obs_b}") if len(p["target"]) == 4]
    got = call("GET", f"/Patient/{a}/$everything").get_json()
    found = {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"]
             for e in got["entry"]}
    assert ("Patient", b) not in found and ("Observation", obs_b) not in found, found
    assert found[("Provenance", mixed["id"])] == "match"
    assert found[("Observation", obs_a)] == "match"
    assert found[("Practitioner", doc)] == "include"
    assert got["total"] == len(found)
    h = {"Authorization": "Bearer " + mint(rt, "patient/*.read", aud=BASE, patient=a,
                                           client="patient-app")}
    seen = app.test_client().get(f"/fhir/Patient/{a}/$everything", headers=h).get_json()
    kinds = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in seen["entry"]}
    assert {("Patient", a), ("Observation", obs_a)} <= kinds
    assert not kinds & {("Patient", b), ("Observation", obs_b), ("Provenance", mixed["id"])}
