"""Authentication to a remote: a static bearer token, or SMART Backend Services (the client
side; hl7.org/fhir/smart-app-launch/backend-services.html).

SMART: the token URL comes from the endpoint's `/.well-known/smart-configuration` (unless
configured); the client authenticates with a `private_key_jwt` client assertion signed with its
private JWK (RS384 or ES384, PyJWT + cryptography), `grant_type=client_credentials` and the
configured scopes. The access token is cached until shortly before it expires; a 401 from the
FHIR server drops it and the request is sent once more with a fresh one.
"""
from __future__ import annotations

import threading
import time
import uuid

from urllib.parse import urlsplit

import jwt
import requests

from .endpoint import Auth

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EARLY = 30.0  # seconds before expiry a cached token is renewed (clock skew, request time)


class TokenError(Exception):
    """The authorisation server refused or could not be reached: retrying will not help
    until the configuration changes."""


class NoAuth:
    refreshable = False

    def header(self, client) -> dict:
        return {}

    def invalidate(self) -> None:
        pass


class BearerAuth(NoAuth):
    def __init__(self, token: str):
        self._h = {"Authorization": f"Bearer {token}"}

    def header(self, client) -> dict:
        return self._h


class SmartBackendAuth:
    refreshable = True

    def __init__(self, auth: Auth, clock=time.time):
        self.auth = auth
        self.clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.token_url = auth.token_url
        self.tokens_issued = 0  # tests, benchmarks

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def header(self, client) -> dict:
        with self._lock:
            if self._token is None or self.clock() >= self._expires - EARLY:
                self._token, self._expires = self._fetch(client)
            return {"Authorization": f"Bearer {self._token}"}

    def client_assertion(self, token_url: str) -> str:
        now = int(time.time())  # the real clock: the server checks iat and exp against its own
        key = jwt.PyJWK(self.auth.jwk, algorithm=self.auth.algorithm)
        claims = {"iss": self.auth.client_id, "sub": self.auth.client_id, "aud": token_url,
                  "exp": now + 300, "iat": now, "jti": uuid.uuid4().hex}
        headers = {"typ": "JWT"}
        if self.auth.jwk.get("kid"):
            headers["kid"] = self.auth.jwk["kid"]
        if self.auth.jwk.get("jku"):
            headers["jku"] = self.auth.jwk["jku"]
        return jwt.encode(claims, key.key, algorithm=self.auth.algorithm, headers=headers)

    def discover(self, client) -> str:
        """The token endpoint from `.well-known/smart-configuration` (on the base URL: the
        discovery document never points fhirsvc at a URL it was not configured with, except
        the token endpoint it names, which it only POSTs its own assertion to)."""
        conf = client.get_json(".well-known/smart-configuration",
                               headers={"Accept": "application/json"}, authenticate=False)
        url = conf.get("token_endpoint")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise TokenError(f"{client.endpoint.base_url}/.well-known/smart-configuration names "
                             "no token_endpoint")
        # The token endpoint may be on another host (an authorisation server), but then only
        # over TLS; plain http only on the FHIR server's own host (a local test set-up).
        if url.startswith("http://") and \
                urlsplit(url).netloc != urlsplit(client.endpoint.base_url).netloc:
            raise TokenError(f"the discovered token endpoint {url} is plain http on another "
                             "host than the FHIR server: refused")
        methods = conf.get("token_endpoint_auth_methods_supported")
        if methods is not None and "private_key_jwt" not in methods:
            raise TokenError(f"the authorisation server of {client.endpoint.name} does not take "
                             f"private_key_jwt (it offers {methods})")
        algs = conf.get("token_endpoint_auth_signing_alg_values_supported")
        if algs is not None and self.auth.algorithm not in algs:
            raise TokenError(f"the authorisation server of {client.endpoint.name} does not take "
                             f"{self.auth.algorithm} assertions (it offers {algs})")
        return url

    def _fetch(self, client) -> tuple[str, float]:
        if self.token_url is None:
            self.token_url = self.discover(client)
        form = {"grant_type": "client_credentials", "scope": self.auth.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(self.token_url)}
        try:
            # Not through client.request: that would ask this object for a header. A token
            # request is safe to repeat (a new assertion, a new jti), so a plain retry on a
            # failed connection is fine; the session's TLS settings apply.
            for attempt in range(3):
                try:
                    resp = client.session.post(self.token_url, data=form,
                                               headers={"Accept": "application/json"},
                                               timeout=client.endpoint.timeout)
                    break
                except requests.ConnectionError:
                    if attempt == 2:
                        raise
                    client.sleep(client.backoff * 2 ** attempt)
                    form["client_assertion"] = self.client_assertion(self.token_url)
        except requests.RequestException as exc:
            raise TokenError(f"token request to {self.token_url} failed: {exc}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or not body.get("access_token"):
            raise TokenError(f"token request to {self.token_url} answered {resp.status_code}: "
                             f"{body.get('error', '')} {body.get('error_description', '')}"
                             .strip())
        self.tokens_issued += 1
        expires_in = float(body.get("expires_in") or 300)
        return body["access_token"], self.clock() + expires_in


def make_auth(auth: Auth):
    if auth.type == "bearer":
        return BearerAuth(auth.token)
    if auth.type == "smart":
        return SmartBackendAuth(auth)
    return NoAuth()
