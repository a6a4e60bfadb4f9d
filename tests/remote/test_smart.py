"""SMART Backend Services, client side, against a spec-following local authorisation server
that verifies the client assertion with PyJWT (until fhirsvc's own token endpoint, issue 13,
lands: then these should also run against a second fhirsvc with it switched on)."""
from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fhirsvc.remote import Endpoint, TokenError, connect
from tools.fake_remote import Reply, SmartServer


def keypair(kind: str) -> tuple[dict, dict, str]:
    if kind == "RS384":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = json.loads(RSAAlgorithm.to_jwk(key))
        public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    else:
        key = ec.generate_private_key(ec.SECP384R1())
        private = json.loads(ECAlgorithm.to_jwk(key))
        public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    private["kid"] = public["kid"] = f"k-{kind}"
    return private, public, kind


@pytest.fixture(params=["RS384", "ES384"])
def smart(request):
    private, public, alg = keypair(request.param)
    srv = SmartServer(public, "fhirsvc-test", alg, expires_in=300).start()
    srv.route("GET", "/Patient", lambda r: Reply(200, {"resourceType": "Bundle",
                                                       "type": "searchset"}))
    yield srv, private
    srv.stop()


def endpoint(srv, private, **auth) -> Endpoint:
    return Endpoint.from_settings("smart", srv.base, {"auth": {
        "type": "smart", "client_id": "fhirsvc-test", "jwk": private,
        "scope": "system/Patient.read", **auth}})


def test_token_from_discovered_endpoint_with_a_verified_assertion_and_cached(smart):
    srv, private = smart
    client = connect(endpoint(srv, private), sleep=lambda s: None)
    for _ in range(3):
        assert client.get_json("Patient")["type"] == "searchset"
    # one discovery, one token for three requests
    assert len(srv.requests("GET", "/.well-known/smart-configuration")) == 1
    assert len(srv.requests("POST", "//auth/token")) == 1
    claims = srv.assertions[0]
    assert claims["iss"] == claims["sub"] == "fhirsvc-test"
    assert claims["aud"] == srv.origin + "/auth/token" and claims["exp"] - claims["iat"] <= 300
    form = dict(__import__("urllib.parse").parse.parse_qsl(
        srv.requests("POST", "//auth/token")[0].body.decode()))
    assert form["scope"] == "system/Patient.read"
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header["alg"] == srv.alg and header["kid"] == private["kid"]


def test_a_401_refreshes_the_token_once(smart):
    srv, private = smart
    client = connect(endpoint(srv, private), sleep=lambda s: None)
    client.get_json("Patient")
    srv.revoke_all()  # the cached token is no longer taken
    assert client.get_json("Patient")["type"] == "searchset"
    assert len(srv.requests("POST", "//auth/token")) == 2
    # a server that refuses every token: one refresh, then the 401 is the answer
    srv.tokens.clear()
    srv.tokens_valid = False
    original = srv._token

    def useless(req):
        original(req)
        srv.revoke_all()
        return Reply(200, {"access_token": "revoked", "expires_in": 300},
                     content_type="application/json")
    srv.route("POST", "//auth/token", useless)
    with pytest.raises(Exception, match="401"):
        client.get_json("Patient")
    assert len(srv.requests("POST", "//auth/token")) == 3


def test_an_expired_token_is_renewed_before_use(smart):
    srv, private = smart
    now = [__import__("time").time()]
    client = connect(endpoint(srv, private), sleep=lambda s: None)
    client.auth.clock = lambda: now[0]   # the cache's clock (token expiry)
    client.get_json("Patient")
    now[0] += 200
    client.get_json("Patient")
    assert len(srv.requests("POST", "//auth/token")) == 1   # still valid: cached
    now[0] += 80  # within 30 s of its expiry (300 s): renewed before it is sent
    client.get_json("Patient")
    assert len(srv.requests("POST", "//auth/token")) == 2


def test_a_wrong_key_is_refused_by_the_token_endpoint(smart):
    srv, _private = smart
    other, _, _ = keypair(srv.alg)
    client = connect(endpoint(srv, other), sleep=lambda s: None)
    with pytest.raises(TokenError, match="400.*invalid_client"):
        client.get_json("Patient")


def test_bad_smart_settings_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="private JWK"):
        Endpoint.from_settings("x", "https://h/fhir", {"auth": {
            "type": "smart", "client_id": "c", "jwk": {"kty": "oct", "k": "x"}}})
    pub = keypair("ES384")[1]
    with pytest.raises(ValueError, match="private JWK"):
        Endpoint.from_settings("x", "https://h/fhir", {"auth": {
            "type": "smart", "client_id": "c", "jwk": pub}})
    with pytest.raises(ValueError, match="unknown endpoint settings: colour"):
        Endpoint.from_settings("x", "https://h/fhir", {"colour": "red"})


def test_a_discovered_plain_http_token_endpoint_elsewhere_is_refused(smart):
    srv, private = smart
    srv.route("GET", "/.well-known/smart-configuration", lambda r: Reply(200, {
        "token_endpoint": "http://169.254.169.254/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"]},
        content_type="application/json"))
    client = connect(endpoint(srv, private), sleep=lambda s: None)
    with pytest.raises(TokenError, match="plain http on another host"):
        client.get_json("Patient")
