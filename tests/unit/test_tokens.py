"""Token verification against a configured issuer (JWKS file), with the spec's example keys."""
import time

import jwt
import pytest

from fhirsvc.security.tokens import InvalidToken, Issuer, TokenVerifier, key_set
from tests.security.smart_support import SMART, spec_keys

AUD = "https://fhir.example/fhir"
ISS = "https://idp.example"


def make(alg="ES384", **claims):
    _, key = spec_keys(alg)
    body = {"iss": ISS, "sub": "app", "aud": AUD, "exp": int(time.time()) + 120,
            "scope": "system/Patient.rs", "patient": None}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key.key, algorithm=alg,
                      headers={"kid": key.key_id})


@pytest.fixture()
def verifier():
    issuers = Issuer.from_config(
        f'[{{"issuer": "{ISS}", "jwks_file": "{SMART / "ES384.public.json"}"}}]')
    return TokenVerifier(None, issuers, skew=30)


def test_configured_issuer_file(verifier):
    claims = verifier.verify(make(patient="p9"), audience=AUD, own_issuer=None)
    assert (claims.client_id, claims.scope, claims.patient) == ("app", "system/Patient.rs",
                                                                 "p9")


@pytest.mark.parametrize("token,why", [
    (lambda: make(aud="https://other/fhir"), "not for this server"),
    (lambda: make(exp=int(time.time()) - 120), "expired"),
    (lambda: make(nbf=int(time.time()) + 600), "not valid yet"),
    (lambda: make(iss="https://unknown.example"), "not trusted"),
    (lambda: make("RS384"), "does not know"),     # RS384 key is not in the issuer's JWKS
])
def test_refused(verifier, token, why):
    with pytest.raises(InvalidToken, match=why):
        verifier.verify(token(), audience=AUD, own_issuer=None)


def test_skew_tolerates_a_slightly_late_clock(verifier):
    verifier.verify(make(exp=int(time.time()) - 10), audience=AUD, own_issuer=None)


def test_registration_refuses_private_and_unusable_keys():
    private = __import__("json").loads((SMART / "ES384.private.json").read_text())
    with pytest.raises(ValueError, match="private key"):
        key_set(private)
    with pytest.raises(ValueError, match="kid"):
        key_set({"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}]})
    with pytest.raises(ValueError):
        key_set({"keys": []})
