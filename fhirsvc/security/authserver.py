"""The built-in authorization server for SMART Backend Services (SMART App Launch 2.2):
client registration with a JWKS, `client_credentials` grants authenticated by a
`private_key_jwt` client assertion, access tokens signed by the server's own key.

    server.register("lab-feed", jwks, "system/Observation.cru", client_class="standard")
    server.token(form, token_url="https://x/auth/token", audience="https://x/fhir",
                 issuer="https://x/auth")  -> {"access_token": ..., "expires_in": 300, ...}

Errors are OAuth 2.0 errors (RFC 6749 section 5.2), not OperationOutcomes: `OAuthError`.
"""
from __future__ import annotations

import json
import time

import jwt

from .scopes import ADMIN_SCOPE, parse_scope, split
from .tokens import ALGORITHMS, SigningKey, key_set, new_jti

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds: exp at most five minutes ahead (the spec's bound)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def check_scopes(scope: str) -> list[str]:
    """The scopes of a registration, each a SMART resource scope or one this server knows."""
    items = split(scope)
    if not items:
        raise ValueError("a client needs at least one scope")
    for s in items:
        if s != ADMIN_SCOPE and parse_scope(s) is None:
            raise ValueError(f"{s!r} is not a scope this server grants (context/Type.cruds, "
                             f"or {ADMIN_SCOPE})")
    return items


class AuthorizationServer:
    def __init__(self, db, signing_key: SigningKey, lifetime: int = 300, skew: int = 60):
        self.db = db
        self.key = signing_key
        self.lifetime = min(lifetime, 300)  # SHOULD NOT exceed 300 (backend services)
        self.skew = skew

    # -- registration -----------------------------------------------------------------------
    def register(self, client_id: str, jwks: dict | str, scope: str,
                 client_class: str = "standard", patient: str | None = None):
        """Register (or re-register) a client: its public keys and the scopes it may ask.
        ValueError says what is wrong with the keys or scopes."""
        if not client_id or len(client_id) > 200 or any(c.isspace() for c in client_id):
            raise ValueError("a client id is 1-200 characters without spaces")
        if isinstance(jwks, str):
            try:
                jwks = json.loads(jwks)
            except ValueError as exc:
                raise ValueError(f"the JWKS is not JSON: {exc}") from None
        key_set(jwks)  # every key must be usable
        items = check_scopes(scope)
        if patient is not None and not any(s.startswith("patient/") for s in items):
            raise ValueError("a patient context only matters with patient/ scopes")
        with self.db.unit_of_work(write=True) as uow:
            row = uow.clients.put(client_id, json.dumps(jwks), " ".join(items), client_class,
                                  patient)
            uow.commit()
        return row

    def clients(self):
        with self.db.unit_of_work() as uow:
            return uow.clients.list()

    def client(self, client_id: str):
        with self.db.unit_of_work() as uow:
            return uow.clients.get(client_id)

    def remove(self, client_id: str) -> bool:
        with self.db.unit_of_work(write=True) as uow:
            done = uow.clients.remove(client_id)
            uow.commit()
        return done

    # -- the token endpoint ------------------------------------------------------------------
    def token(self, form: dict, *, token_url: str, audience: str, issuer: str) -> dict:
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type",
                             "grant_type must be client_credentials (SMART Backend Services)")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion")
        if not assertion:
            raise OAuthError("invalid_request", "client_assertion is missing")
        client, claims = self._authenticate(assertion, token_url)
        granted = self._grant(client, form.get("scope") or "")
        now = int(time.time())
        claims_out = {"iss": issuer, "sub": client.client_id, "aud": audience,
                      "iat": now, "nbf": now, "exp": now + self.lifetime, "jti": new_jti(),
                      "client_id": client.client_id, "scope": " ".join(granted),
                      "client_class": client.client_class}
        if client.patient:
            claims_out["patient"] = client.patient
        body = {"access_token": self.key.issue(claims_out), "token_type": "bearer",
                "expires_in": self.lifetime, "scope": " ".join(granted)}
        if client.patient:
            body["patient"] = client.patient
        return body

    def _authenticate(self, assertion: str, token_url: str):
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_client", "client_assertion is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise OAuthError("invalid_client", f"client_assertion algorithm {alg!r} is not "
                             f"accepted ({', '.join(ALGORITHMS)})")
        if header.get("jku"):  # no jku is allowed-listed: keys come from registration only
            raise OAuthError("invalid_client", "jku is not accepted: register the JWKS")
        client_id = unverified.get("iss")
        client = self.client(client_id) if isinstance(client_id, str) else None
        if client is None or client.disabled:
            raise OAuthError("invalid_client", f"client {client_id!r} is not registered")
        key = key_set(json.loads(client.jwks)).get(header.get("kid"))
        if key is None or key.algorithm_name != alg:
            raise OAuthError("invalid_client", f"kid {header.get('kid')!r} ({alg}) is not a "
                             f"registered key of {client_id}")
        try:
            claims = jwt.decode(assertion, key.key, algorithms=[alg], audience=token_url,
                                issuer=client_id, leeway=self.skew,
                                options={"require": ["iss", "sub", "aud", "exp", "jti"]})
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_client", f"client_assertion aud must be the token "
                             f"endpoint {token_url}") from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_client", "client_assertion has expired") from None
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_client", f"client_assertion is not valid: {exc}") \
                from None
        if claims["sub"] != client_id:
            raise OAuthError("invalid_client", "client_assertion sub must equal iss (the "
                             "client id)")
        exp = int(claims["exp"])
        if exp > time.time() + MAX_ASSERTION_LIFETIME + self.skew:
            raise OAuthError("invalid_client", "client_assertion exp is more than five "
                             "minutes ahead")
        with self.db.unit_of_work(write=True) as uow:
            fresh = uow.clients.use_jti(client_id, str(claims["jti"]),
                                        (exp + self.skew) * 1_000_000)
            uow.commit()
        if not fresh:
            raise OAuthError("invalid_client", "client_assertion jti was used before (replay)")
        return client, claims

    @staticmethod
    def _grant(client, requested: str) -> list[str]:
        """The requested scopes the registration covers; all registered ones when none are
        asked. A scope that is asked for and not covered refuses the request (spec: SHOULD
        fail rather than silently narrow)."""
        registered = split(client.scope)
        asked = split(requested) or registered
        reg_parsed = [parse_scope(s) for s in registered if s != ADMIN_SCOPE]
        granted, refused = [], []
        for s in asked:
            if s in registered:
                granted.append(s)
                continue
            try:
                p = parse_scope(s)
            except ValueError as exc:
                raise OAuthError("invalid_scope", str(exc)) from None
            if p is not None and any(r.covers(p) for r in reg_parsed):
                granted.append(s)
            else:
                refused.append(s)
        if refused:
            raise OAuthError("invalid_scope", f"{client.client_id} may not ask for "
                             f"{' '.join(refused)} (registered: {client.scope})")
        return granted


def smart_configuration(token_url: str, jwks_url: str, scopes: list[str]) -> dict:
    """/.well-known/smart-configuration (SMART App Launch 2.2 conformance)."""
    return {
        "issuer": token_url.rsplit("/", 1)[0],
        "jwks_uri": jwks_url,
        "token_endpoint": token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": scopes,
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
    }


def auth_urls(base_url: str, base_path: str) -> tuple[str, str, str]:
    """(issuer, token URL, JWKS URL) of the built-in server: /auth beside the FHIR base."""
    from urllib.parse import urlsplit
    root = base_url[:-len(base_path)] if base_path and base_url.endswith(base_path) \
        else "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    return root + "/auth", root + "/auth/token", root + "/auth/jwks"


def rest_security(base_url: str, base_path: str) -> dict:
    """CapabilityStatement.rest.security of a SMART server (SMART App Launch 2.2)."""
    _, token_url, _ = auth_urls(base_url, base_path)
    return {
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": token_url}]}],
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
            "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)"}],
        "description": "SMART Backend Services: POST a client_credentials grant with a "
                       f"private_key_jwt assertion to {token_url}; discovery at "
                       f"{base_url}/.well-known/smart-configuration",
    }
