"""The built-in authorization server: SMART Backend Services client_credentials with a
private_key_jwt assertion made with the spec's example keys (ES384 and RS384)."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from .conftest import TOKEN_URL
from .smart_support import alg_none_token, spec_keys, token_form


@pytest.fixture(scope="module")
def clients(smart_runtime):
    server = smart_runtime.services.auth
    es_public, _ = spec_keys("ES384")
    rs_public, _ = spec_keys("RS384")
    server.register("es-client", es_public, "system/Patient.rs system/Observation.rs")
    server.register("rs-client", rs_public, "system/*.rs")
    server.register("p1-app", es_public, "patient/*.rs", patient="p1")
    return server


def post_token(call, form):
    return call.client.post("/auth/token", data=form)


@pytest.mark.parametrize("client,alg", [("es-client", "ES384"), ("rs-client", "RS384")])
def test_token_then_read_only_what_the_scopes_allow(call, clients, client, alg):
    resp = post_token(call, token_form(client, TOKEN_URL, alg=alg))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] <= 300
    assert resp.headers["Cache-Control"] == "no-store"
    tok = body["access_token"]
    assert call("GET", "/Patient/p1", token=tok).status_code == 200
    assert call("GET", "/Condition/c1", token=tok).status_code == \
        (403 if client == "es-client" else 200)      # system/*.rs covers Condition
    assert call("POST", "/Patient", token=tok, json={"resourceType": "Patient"}).status_code \
        == 403


def test_narrower_scope_request_and_patient_context(call, clients):
    body = post_token(call, token_form("rs-client", TOKEN_URL, "system/Patient.rs",
                                       alg="RS384")).get_json()
    assert body["scope"] == "system/Patient.rs"
    assert call("GET", "/Observation/o1", token=body["access_token"]).status_code == 403
    body = post_token(call, token_form("p1-app", TOKEN_URL)).get_json()
    assert body["patient"] == "p1"
    assert call("GET", "/Observation/o1", token=body["access_token"]).status_code == 200
    assert call("GET", "/Observation/o2", token=body["access_token"]).status_code == 403


def _error(resp) -> tuple[int, str, str]:
    body = resp.get_json()
    return resp.status_code, body["error"], body["error_description"]


def test_replayed_jti_is_refused(call, clients):
    form = token_form("es-client", TOKEN_URL, jti=f"once-{uuid.uuid4().hex}")
    assert post_token(call, form).status_code == 200
    status, err, why = _error(post_token(call, form))
    assert (status, err) == (400, "invalid_client") and "replay" in why


@pytest.mark.parametrize("case,expected", [
    ("wrong-aud", "aud must be the token endpoint"),
    ("expired", "expired"),
    ("too-long", "five minutes"),
    ("sub-differs", "sub must equal iss"),
    ("unknown-kid", "not a registered key"),
    ("unregistered", "not registered"),
    ("alg-none", "not accepted"),
    ("signed-by-other-key", "not a registered key"),
])
def test_bad_assertions_are_invalid_client(call, clients, case, expected):
    if case == "wrong-aud":
        form = token_form("es-client", TOKEN_URL, aud="https://other.example/auth/token")
    elif case == "expired":
        form = token_form("es-client", TOKEN_URL, exp_in=-600)
    elif case == "too-long":
        form = token_form("es-client", TOKEN_URL, exp_in=3600)
    elif case == "sub-differs":
        form = token_form("es-client", TOKEN_URL, sub="someone-else")
    elif case == "unknown-kid":
        form = token_form("es-client", TOKEN_URL, kid="no-such-kid")
    elif case == "unregistered":
        form = token_form("nobody", TOKEN_URL)
    elif case == "alg-none":
        form = token_form("es-client", TOKEN_URL)
        form["client_assertion"] = alg_none_token({
            "iss": "es-client", "sub": "es-client", "aud": TOKEN_URL,
            "exp": int(time.time()) + 60, "jti": uuid.uuid4().hex})
    else:  # the RS384 key is registered for rs-client, not es-client
        form = token_form("es-client", TOKEN_URL, alg="RS384")
    status, err, why = _error(post_token(call, form))
    assert (status, err) == (400, "invalid_client") and expected in why, why


def test_scope_not_registered_and_wrong_grant(call, clients):
    status, err, why = _error(post_token(call, token_form("es-client", TOKEN_URL,
                                                          "system/Condition.rs")))
    assert (status, err) == (400, "invalid_scope") and "system/Condition.rs" in why
    form = token_form("es-client", TOKEN_URL)
    form["grant_type"] = "password"
    assert _error(post_token(call, form))[1] == "unsupported_grant_type"


def test_admin_api_registers_clients(call, clients):
    es_public, _ = spec_keys("ES384")
    body = {"client_id": "via-api", "jwks": es_public, "scope": "system/Condition.rs"}
    assert call.client.post("/auth/clients", json=body).status_code == 401
    no_admin = call.token("system/*.cruds")
    assert call.client.post("/auth/clients", json=body, headers={
        "Authorization": f"Bearer {no_admin}"}).status_code == 403
    admin = {"Authorization": f"Bearer {call.token('fhirsvc/admin')}"}
    resp = call.client.post("/auth/clients", json=body, headers=admin)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    bad = dict(body, scope="system/Condition.xyz")
    assert call.client.post("/auth/clients", json=bad, headers=admin).status_code == 400
    listed = call.client.get("/auth/clients", headers=admin).get_json()
    assert "via-api" in [c["client_id"] for c in listed]
    tok = post_token(call, token_form("via-api", TOKEN_URL)).get_json()["access_token"]
    assert call("GET", "/Condition/c1", token=tok).status_code == 200
    assert call.client.delete("/auth/clients/via-api", headers=admin).status_code == 204
    assert _error(post_token(call, token_form("via-api", TOKEN_URL)))[1] == "invalid_client"


def test_own_jwks_is_published(call, clients):
    keys = call.client.get("/auth/jwks").get_json()["keys"]
    assert keys[0]["kid"] == call.runtime.services.auth.key.kid and "d" not in keys[0]
    assert json.dumps(keys)  # plain JSON
