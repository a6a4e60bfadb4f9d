"""Test helpers: a SMART Backend Services client built on the spec's example keys (test
vectors, ../shared/reference/smart/), and tokens minted with a server's own signing key."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[2]
SMART = ROOT.parent / "shared" / "reference" / "smart"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def spec_keys(alg: str = "ES384") -> tuple[dict, jwt.PyJWK]:
    """(public JWKS, private signing key) of the spec's example client keys."""
    public = json.loads((SMART / f"{alg}.public.json").read_text())
    private = json.loads((SMART / f"{alg}.private.json").read_text())
    sign = next(k for k in private["keys"] if "d" in k)
    return public, jwt.PyJWK(sign, alg)


def assertion(client_id: str, token_url: str, alg: str = "ES384", *, exp_in: int = 240,
              jti: str | None = None, aud: str | None = None, kid: str | None = None,
              sub: str | None = None) -> str:
    """The client's own signed JWT (iss = sub = client id, aud = the token URL)."""
    _, key = spec_keys(alg)
    now = int(time.time())
    claims = {"iss": client_id, "sub": sub or client_id, "aud": aud or token_url,
              "exp": now + exp_in, "jti": jti or uuid.uuid4().hex}
    return jwt.encode(claims, key.key, algorithm=alg,
                      headers={"kid": kid or key.key_id, "typ": "JWT"})


def token_form(client_id: str, token_url: str, scope: str | None = None, **kw) -> dict:
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client_id, token_url, **kw)}
    if scope is not None:
        form["scope"] = scope
    return form


def mint(runtime, scope: str, *, aud: str, patient: str | None = None, exp_in: int = 300,
         client: str = "matrix", iss: str | None = None, nbf_in: int = 0) -> str:
    """An access token signed by the server's own key (what /auth/token would issue)."""
    now = int(time.time())
    claims = {"iss": iss or aud.rsplit("/fhir", 1)[0] + "/auth", "sub": client, "aud": aud,
              "exp": now + exp_in, "iat": now, "nbf": now + nbf_in, "jti": uuid.uuid4().hex,
              "client_id": client, "scope": scope, "client_class": "standard"}
    if patient:
        claims["patient"] = patient
    return runtime.services.auth.key.issue(claims)


def alg_none_token(claims: dict) -> str:
    import base64

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
