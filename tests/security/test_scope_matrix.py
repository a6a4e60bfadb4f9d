"""Interactions x scopes with FHIRSVC_AUTH=smart, on SQLite and PostgreSQL: allowed, denied,
wrong patient, query-constrained, and every token that must not get in (expired, wrong
audience, alg=none, unknown key, not yet valid, garbage)."""
from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .smart_support import alg_none_token

PATIENT_RS = "patient/*.rs"
LAB_ONLY = "system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/" \
           "observation-category|laboratory"

def text(issue: dict) -> str:
    return issue.get("diagnostics") or issue.get("details", {}).get("text", "")


# (method, path, scope, patient, expected status)
MATRIX = [
    # read / vread
    ("GET", "/Patient/p1", "system/Patient.rs", None, 200),
    ("GET", "/Patient/p1", "system/Patient.read", None, 200),          # v1
    ("GET", "/Patient/p1", "user/*.cruds", None, 200),
    ("GET", "/Patient/p1", "system/Observation.rs", None, 403),
    ("GET", "/Patient/p1", "system/Patient.s", None, 403),             # s is not r
    ("GET", "/Patient/p1", "patient/Patient.rs", "p1", 200),
    ("GET", "/Patient/p1", "patient/Patient.rs", "p2", 403),           # wrong patient
    ("GET", "/Observation/o1", PATIENT_RS, "p1", 200),
    ("GET", "/Observation/o2", PATIENT_RS, "p1", 403),
    ("GET", "/Practitioner/pr1", PATIENT_RS, "p1", 403),               # not in the compartment
    ("GET", "/Observation/o1", LAB_ONLY, None, 200),
    ("GET", "/Observation/o3", LAB_ONLY, None, 403),                   # query constraint
    ("GET", "/Patient/p1/_history/1", "system/Patient.r", None, 200),
    ("GET", "/Patient/p1/_history/1", "system/Condition.r", None, 403),
    ("GET", "/Observation/o2/_history/1", PATIENT_RS, "p1", 403),
    # search: type, POST _search, compartment, system
    ("GET", "/Observation", "system/Observation.s", None, 200),
    ("GET", "/Observation", "system/Observation.r", None, 403),
    ("POST", "/Observation/_search", "system/Observation.s", None, 200),
    ("POST", "/Observation/_search", "system/Patient.s", None, 403),
    ("GET", "/Patient/p1/Observation", PATIENT_RS, "p1", 200),
    ("GET", "/Patient/p2/Observation", PATIENT_RS, "p1", 403),
    ("GET", "/?_type=Observation", "system/*.rs", None, 200),
    ("GET", "/?_type=Observation", "system/Observation.rs", None, 200),
    ("GET", "/", "system/Observation.rs", None, 403),
    ("GET", "/?_type=Observation", PATIENT_RS, "p1", 403),
    # history
    ("GET", "/Patient/p1/_history", "system/Patient.r", None, 200),
    ("GET", "/Patient/_history", "system/Patient.s", None, 200),
    ("GET", "/Patient/_history", "system/Patient.r", None, 403),
    ("GET", "/_history", "system/*.s", None, 200),
    ("GET", "/_history", "system/Patient.s", None, 403),
    # $everything, analytics
    ("GET", "/Patient/p1/$everything", PATIENT_RS, "p1", 200),
    ("GET", "/Patient/p1/$everything", PATIENT_RS, "p2", 403),
    ("GET", "/Patient/p1/$everything", "system/*.rs", None, 200),
    ("GET", "/Patient/p1/$everything", "system/Observation.rs", None, 403),
    ("GET", "/$cohort-statistics", PATIENT_RS, "p1", 403),
    ("GET", "/$cohort-statistics", "system/Observation.rs", None, 403),
    ("GET", "/Patient/p2/$ssc-classification", PATIENT_RS, "p1", 403),
    # the audit trail
    ("GET", "/AuditEvent", "system/AuditEvent.rs", None, 200),
    ("GET", "/AuditEvent", "system/Patient.rs", None, 403),
    ("GET", "/AuditEvent", "patient/AuditEvent.rs", "p1", 403),
    ("DELETE", "/AuditEvent/1", "system/*.cruds", None, 405),
    ("GET", "/AuditEvent/_history", "system/*.cruds", None, 405),
    # capabilities and discovery need no token
    ("GET", "/metadata", None, None, 200),
    ("GET", "/.well-known/smart-configuration", None, None, 200),
    ("GET", "/Patient/p1", None, None, 401),
]


@pytest.mark.parametrize("method,path,scope,patient,expected", MATRIX,
                         ids=[f"{m} {p} [{s} {pt or ''}]->{e}" for m, p, s, pt, e in MATRIX])
def test_matrix(call, method, path, scope, patient, expected):
    kw = {}
    if method == "POST":
        kw = {"data": "", "content_type": "application/x-www-form-urlencoded"}
    resp = call(method, path, scope, patient, **kw)
    assert resp.status_code == expected, resp.get_data(as_text=True)[:500]
    if expected == 403:
        body = resp.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] in ("forbidden",)
        assert "scope" in text(body["issue"][0]).lower()
        assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


def _ids(bundle, rtype=None):
    return sorted(e["resource"]["id"] for e in bundle.get("entry", [])
                  if rtype is None or e["resource"]["resourceType"] == rtype)


def test_forbidden_names_the_missing_scope(call):
    body = call("GET", "/Condition/c1", "system/Patient.rs").get_json()
    assert "system/Condition.r" in text(body["issue"][0])
    body = call("POST", "/Observation", "patient/Observation.rs", "p1",
                json={"resourceType": "Observation"}).get_json()
    assert "patient/Observation.c" in text(body["issue"][0])


def test_patient_scope_search_sees_only_the_patient(call):
    got = call("GET", "/Observation", PATIENT_RS, "p1").get_json()
    assert _ids(got) == ["o1", "o3"]
    assert call("GET", "/Observation", "system/Observation.rs").get_json()["total"] == 3


def test_query_constrained_search_is_narrowed(call):
    got = call("GET", "/Observation", LAB_ONLY).get_json()
    assert _ids(got) == ["o1"]


def test_include_results_need_their_own_scope(call):
    path = "/Observation?_include=Observation:subject&_include=Observation:performer"
    only_obs = call("GET", path, "system/Observation.rs").get_json()
    assert _ids(only_obs, "Patient") == [] and _ids(only_obs, "Observation") == \
        ["o1", "o2", "o3"]
    both = call("GET", path, "system/Observation.rs system/Patient.rs").get_json()
    assert _ids(both, "Patient") == ["p1", "p2"] and _ids(both, "Practitioner") == []
    rev = call("GET", "/Patient?_revinclude=Observation:subject", PATIENT_RS, "p1").get_json()
    assert _ids(rev) == ["o1", "o3", "p1"]


def test_everything_with_a_patient_scope_stays_in_the_compartment(call):
    got = call("GET", "/Patient/p1/$everything", PATIENT_RS, "p1").get_json()
    assert _ids(got) == ["c1", "o1", "o3", "p1"]   # Practitioner pr1 left out
    got = call("GET", "/Patient/p1/$everything", "system/*.rs").get_json()
    assert "pr1" in _ids(got)


# -- writes ------------------------------------------------------------------------------------
def obs(pid: str, oid: str | None = None) -> dict:
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": f"Patient/{pid}"}}
    if oid:
        body["id"] = oid
    return body


def test_create_update_delete_need_their_letters(call):
    assert call("POST", "/Observation", "system/Observation.rs", json=obs("p1")).status_code \
        == 403
    created = call("POST", "/Observation", "system/Observation.c", json=obs("p1"))
    assert created.status_code == 201
    oid = created.get_json()["id"]
    assert call("PUT", f"/Observation/{oid}", "system/Observation.c",
                json=obs("p1", oid)).status_code == 403
    assert call("PUT", f"/Observation/{oid}", "system/Observation.u",
                json=obs("p1", oid)).status_code == 200
    assert call("DELETE", f"/Observation/{oid}", "system/Observation.cru").status_code == 403
    assert call("DELETE", f"/Observation/{oid}", "system/Observation.d").status_code == 204
    assert call("DELETE", "/Observation?code=x", "system/Observation.rs").status_code == 403
    assert call("PUT", "/Observation?code=nothing", "system/Observation.rs",
                json=obs("p1")).status_code == 403


def test_patient_scope_writes_stay_in_the_compartment(call):
    assert call("POST", "/Observation", "patient/Observation.c", "p1",
                json=obs("p2")).status_code == 403
    ok = call("POST", "/Observation", "patient/Observation.cud", "p1", json=obs("p1"))
    assert ok.status_code == 201
    oid = ok.get_json()["id"]
    # moving it to another patient, or changing another patient's data, is refused
    assert call("PUT", f"/Observation/{oid}", "patient/Observation.u", "p1",
                json=obs("p2", oid)).status_code == 403
    assert call("PUT", "/Observation/o2", "patient/Observation.u", "p1",
                json=obs("p1", "o2")).status_code == 403
    assert call("DELETE", "/Observation/o2", "patient/Observation.d", "p1").status_code == 403
    assert call("DELETE", f"/Observation/{oid}", "patient/Observation.d", "p1").status_code \
        == 204
    # a conditional create must not hand back another patient's match
    assert call("POST", "/Observation", "patient/Observation.c", "p1", json=obs("p1"),
                headers={"If-None-Exist": "_id=o2"}).status_code == 403
    assert call("POST", "/Observation", "patient/Observation.c", "p1", json=obs("p1"),
                headers={"If-None-Exist": "_id=o1"}).status_code == 200
    # query-constrained scopes never grant writes
    assert call("POST", "/Observation", LAB_ONLY.replace(".rs", ".crs"),
                json=obs("p1")).status_code == 403


def test_validate_needs_access_to_the_type(call):
    body = obs("p1")
    assert call("POST", "/Observation/$validate", "system/Observation.c",
                json=body).status_code == 200
    assert call("POST", "/Observation/$validate", "system/Patient.rs", json=body).status_code \
        == 403


def test_transaction_is_refused_whole_naming_the_entry(call, smart_runtime):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6a1d7a6e-0000-4000-8000-000000000001", "resource": obs("p1"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                      "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Condition"}}]}
    before = call("GET", "/Observation?_summary=count", "system/*.rs").get_json()["total"]
    resp = call("POST", "/", "system/Observation.c", json=bundle)
    assert resp.status_code == 403
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource"] and "system/Condition.c" in \
        text(issue)
    after = call("GET", "/Observation?_summary=count", "system/*.rs").get_json()["total"]
    assert after == before   # nothing written
    assert call("POST", "/", "system/Observation.c system/Condition.c",
                json=bundle).status_code == 200


def test_batch_entries_are_judged_one_by_one(call):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/p1"}},
        {"request": {"method": "GET", "url": "Patient/p2"}},
        {"request": {"method": "GET", "url": "Observation?category=laboratory"}},
        {"request": {"method": "GET", "url": "Condition/c1"}},
        {"resource": obs("p2"), "request": {"method": "POST", "url": "Observation"}},
        {"resource": obs("p1"), "request": {"method": "POST", "url": "Observation"}}]}
    resp = call("POST", "/", "patient/Patient.rs patient/Observation.crs", "p1", json=bundle)
    assert resp.status_code == 200
    statuses = [e["response"]["status"][:3] for e in resp.get_json()["entry"]]
    assert statuses == ["200", "403", "200", "403", "403", "201"]
    search = resp.get_json()["entry"][2]["resource"]
    assert _ids(search) == ["o1"]   # p1's lab observation only


def test_deleted_history_needs_the_delete_letter(call, smart_runtime):
    ctx = smart_runtime.context()
    smart_runtime.services.resources.update(ctx, "Patient", "gone", {
        "resourceType": "Patient", "id": "gone"})
    smart_runtime.services.resources.delete(ctx, "Patient", "gone")
    assert call("GET", "/Patient/gone/_history", "system/Patient.rs").status_code == 403
    hist = call("GET", "/Patient/gone/_history", "system/Patient.rds").get_json()
    assert "entry" in hist, hist
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "PUT"]
    assert call("GET", "/Patient/gone/_history/1", "system/Patient.rs").status_code == 403
    assert call("GET", "/Patient/gone/_history/1", "system/Patient.rd").status_code == 200
    typed = call("GET", "/Patient/_history", "system/Patient.rs").get_json()
    assert all("resource" in e for e in typed["entry"]) and "total" not in typed
    typed = call("GET", "/Patient/_history", "system/Patient.rds").get_json()
    assert any("resource" not in e for e in typed["entry"]) and "total" in typed


# -- tokens that must not get in ------------------------------------------------------------------
def _wwwauth(resp) -> str:
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    return resp.headers["WWW-Authenticate"]


def test_missing_token_is_401_with_a_challenge(call):
    assert _wwwauth(call("GET", "/Patient/p1")).startswith("Bearer")


# every kind of interaction reaches the same check before its view runs
DOORS = [("GET", "/Patient/p1"), ("GET", "/Observation?subject=Patient/p1"),
         ("POST", "/Patient"), ("POST", "/"), ("GET", "/Patient/p1/$everything"),
         ("DELETE", "/Observation/o1"), ("GET", "/AuditEvent")]


@pytest.mark.parametrize("method,path", DOORS)
@pytest.mark.parametrize("case", ["expired", "wrong-audience", "alg-none", "unknown-key",
                                  "not-yet-valid", "garbage", "wrong-issuer", "hs256"])
def test_bad_tokens_are_invalid_token(call, case, method, path):
    if case == "expired":
        tok = call.token("system/*.rs", exp_in=-3600)
    elif case == "wrong-audience":
        from .smart_support import mint
        tok = mint(call.runtime, "system/*.rs", aud="http://other.example/fhir",
                   iss="http://localhost/auth")
    elif case == "alg-none":
        tok = alg_none_token({"iss": "http://localhost/auth", "sub": "x",
                              "aud": "http://localhost/fhir", "exp": int(time.time()) + 300,
                              "scope": "system/*.cruds"})
    elif case == "unknown-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tok = jwt.encode({"iss": "http://localhost/auth", "sub": "x",
                          "aud": "http://localhost/fhir", "exp": int(time.time()) + 300,
                          "scope": "system/*.cruds"}, other, algorithm="RS384",
                         headers={"kid": call.runtime.services.auth.key.kid})
    elif case == "not-yet-valid":
        tok = call.token("system/*.rs", nbf_in=3600)
    elif case == "garbage":
        tok = "opaque-token-123"
    elif case == "wrong-issuer":
        from .smart_support import mint
        tok = mint(call.runtime, "system/*.rs", aud="http://localhost/fhir",
                   iss="http://evil.example/auth")
    else:  # HS256 with the server's public key as the secret (algorithm confusion)
        tok = jwt.encode({"iss": "http://localhost/auth", "sub": "x",
                          "aud": "http://localhost/fhir", "exp": int(time.time()) + 300,
                          "scope": "system/*.cruds"}, "k" * 48, algorithm="HS256",
                         headers={"kid": call.runtime.services.auth.key.kid})
    kw = {"json": {"resourceType": "Bundle", "type": "batch"}} if method == "POST" else {}
    challenge = _wwwauth(call(method, path, token=tok, **kw))
    assert 'error="invalid_token"' in challenge


# -- limits, CORS, the audit trail ------------------------------------------------------------------
def test_rate_limit_is_429_with_retry_after(call):
    from .smart_support import mint
    import uuid
    client = f"tiny-{uuid.uuid4().hex[:6]}"
    tok = mint(call.runtime, "system/Patient.rs", aud="http://localhost/fhir", client=client)
    import jwt as _jwt
    claims = _jwt.decode(tok, options={"verify_signature": False})
    claims["client_class"] = "tiny"
    tok = call.runtime.services.auth.key.issue(claims)
    codes = [call("GET", "/Patient/p1", token=tok).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429
    resp = call("GET", "/Patient/p1", token=tok)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    # another client is not slowed down
    assert call("GET", "/Patient/p1", "system/Patient.rs").status_code == 200


def test_entry_and_size_limits_per_client_class(call):
    import jwt as _jwt
    claims = _jwt.decode(call.token("system/*.cruds"), options={"verify_signature": False})
    claims.update(client_class="tiny", sub="tiny-bulk", client_id="tiny-bulk")
    tok = call.runtime.services.auth.key.issue(claims)
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/p1"}}] * 3}
    resp = call("POST", "/", token=tok, json=bundle)
    assert resp.status_code == 413 and "at most 2" in text(resp.get_json()["issue"][0])
    big = {"resourceType": "Patient", "name": [{"family": "x" * 3000}]}
    assert call("POST", "/Patient", token=call.token("system/*.cruds"),
                json=big).status_code == 201
    claims2 = dict(claims, sub="tiny-big", client_id="tiny-big")
    resp = call("POST", "/Patient", token=call.runtime.services.auth.key.issue(claims2),
                json=big)
    assert resp.status_code == 413


def test_cors_is_off_unless_configured(call, smart_app):
    hdr = {"Origin": "https://app.example"}
    resp = call("GET", "/metadata", headers=hdr)
    assert "Access-Control-Allow-Origin" not in resp.headers
    cfg = smart_app.config["FHIRSVC"]
    smart_app.config["FHIRSVC"] = cfg.with_(cors_origins="https://app.example")
    try:
        resp = call("GET", "/metadata", headers=hdr)
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
        pre = call("OPTIONS", "/Patient/p1", headers=dict(
            hdr, **{"Access-Control-Request-Method": "GET"}))
        assert pre.status_code in (200, 204)
        assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
        other = call("GET", "/metadata", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        smart_app.config["FHIRSVC"] = cfg


def test_capability_statement_declares_smart(call):
    cs = call("GET", "/metadata").get_json()
    sec = cs["rest"][0]["security"]
    assert sec["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert sec["extension"][0]["extension"][0]["valueUri"] == "http://localhost/auth/token"
    conf = call("GET", "/.well-known/smart-configuration").get_json()
    assert conf["token_endpoint"] == "http://localhost/auth/token"
    assert "client_credentials" in conf["grant_types_supported"]
    assert "private_key_jwt" in conf["token_endpoint_auth_methods_supported"]
    assert "ES384" in conf["token_endpoint_auth_signing_alg_values_supported"]


def test_audit_trail_records_reads_changes_and_denials(call, smart_runtime):
    marker = f"audit-{time.time_ns()}"
    created = call("POST", "/Patient", "system/Patient.c",
                   json={"resourceType": "Patient", "name": [{"family": marker}]})
    pid = created.get_json()["id"]
    call("GET", f"/Patient/{pid}", "system/Patient.r")
    call("GET", f"/Patient/{pid}", "system/Observation.r")   # denied
    smart_runtime.services.audit.log.flush()
    got = call("GET", f"/AuditEvent?entity=Patient/{pid}", "system/AuditEvent.rs").get_json()
    events = [e["resource"] for e in got["entry"]]
    kinds = sorted((e["subtype"][0]["code"], e["action"], e["outcome"]) for e in events)
    assert kinds == [("create", "C", "0"), ("read", "R", "0"), ("read", "R", "4")]
    assert all(e["agent"][0]["who"]["identifier"]["value"] == "matrix" for e in events)
    one = events[0]
    assert call("GET", f"/AuditEvent/{one['id']}", "system/AuditEvent.r").get_json()["id"] \
        == one["id"]
    assert call("POST", "/AuditEvent", "system/*.cruds", json=one).status_code == 405
    assert call("PUT", f"/AuditEvent/{one['id']}", "system/*.cruds", json=one).status_code \
        == 405
    denied = call("GET", "/AuditEvent?outcome=4&subtype=read", "system/AuditEvent.rs")
    assert denied.get_json()["total"] >= 1


def test_audit_table_refuses_update_and_delete_in_the_database(smart_runtime):
    import sqlalchemy as sa
    smart_runtime.services.audit.log.flush()
    with smart_runtime.db.engine.connect() as conn:
        for stmt in ("UPDATE audit_events SET door = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(sa.exc.DBAPIError):
                with conn.begin():
                    conn.execute(sa.text(stmt))


def test_a_change_and_its_audit_record_commit_together(call, smart_runtime):
    """The change record is in the database as soon as the write answers (not buffered), and a
    transaction rolled back after its creates leaves no change record either."""
    def changes(rtype, rid):
        with smart_runtime.db.unit_of_work() as uow:
            return uow.audit.find(equals={"resource_type": rtype, "resource_id": rid,
                                          "action": ("C", "U", "D")})[0]
    made = call("POST", "/Observation", "system/*.cruds", json=obs("p1"))
    assert changes("Observation", made.get_json()["id"]) == 1   # no log.flush() needed
    fixed = "6f0c1a52-0000-4000-8000-00000000a0d1"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs("p1", fixed), "request": {"method": "PUT",
                                                   "url": f"Observation/{fixed}"}},
        {"resource": obs("p1", "o1"), "request": {"method": "PUT", "url": "Observation/o1",
                                                  "ifMatch": 'W/"999"'}}]}
    resp = call("POST", "/", "system/*.cruds", json=bundle)
    assert resp.status_code == 412          # after the first entry was written: rolled back
    assert call("GET", f"/Observation/{fixed}", "system/*.cruds").status_code == 404
    assert changes("Observation", fixed) == 0


def test_provenance_names_the_client(smart_runtime):
    from fhirsvc.ingest import ProvenanceRecord
    ctx = smart_runtime.context(door="hl7v2").with_(caller="lab-feed", enforce=True,
                                                    scopes=frozenset({"system/*.cruds"}))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs("p1"), "request": {"method": "POST", "url": "Observation"}}]}
    result = smart_runtime.services.resources.ingest(
        ctx, bundle, ProvenanceRecord(door="hl7v2", agent="LAB^HOSP", source_id="MSG1"))
    agents = result.provenance.resource()["agent"]
    assert agents[0]["who"]["display"] == "LAB^HOSP"
    assert agents[1]["who"]["identifier"]["value"] == "lab-feed"
    # the same door without the scope is refused before anything is written
    ctx2 = ctx.with_(scopes=frozenset({"system/Patient.rs"}))
    with pytest.raises(Exception) as exc:
        smart_runtime.services.resources.ingest(
            ctx2, bundle, ProvenanceRecord(door="hl7v2", agent="LAB^HOSP"))
    assert getattr(exc.value, "status", None) == 403
