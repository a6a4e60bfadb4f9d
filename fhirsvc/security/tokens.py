"""Bearer JWTs: verification against the configured issuers, and the server's own signing key.

    verifier = TokenVerifier([own_issuer, *configured], skew=60)
    claims = verifier.verify(token, audience="https://x/fhir", own_issuer="https://x/auth")

PyJWT (with cryptography) does the JOSE work; this module only decides which key and which
issuer a token may claim. `alg=none`, algorithms outside ALGORITHMS, unknown `kid`s and
unknown issuers are refused before any signature is checked.

A token verified once is kept (its exact text, with the audience and issuer it was checked
for) until it expires: a request carrying it again is answered from the claims after the time
claims are checked again (exp, nbf, iat, the same skew) and its key is still the one the
issuer names, without decoding and checking the signature again (~0.15 ms of every request).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHMS = ("RS384", "ES384", "RS256")
OWN_ALGORITHM = "RS384"


class InvalidToken(Exception):
    """The token cannot be trusted: 401 with WWW-Authenticate error="invalid_token"."""


@dataclass(frozen=True)
class Claims:
    subject: str                 # the client (or user) the token was issued to
    client_id: str
    scope: str
    patient: str | None
    fhir_user: str | None
    client_class: str
    issuer: str
    raw: dict


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the kid of the server's own key."""
    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"),
                           sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()) \
        .rstrip(b"=").decode()


def key_set(jwks: dict) -> dict[str, jwt.PyJWK]:
    """kid -> verification key of a JWKS (public keys only; RS*/ES* keys of ALGORITHMS).
    A key without kid is refused: tokens must name the key they are signed with."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) \
            or not jwks["keys"]:
        raise ValueError("a JWKS is an object with a non-empty 'keys' array")
    keys: dict[str, jwt.PyJWK] = {}
    for i, k in enumerate(jwks["keys"]):
        if not isinstance(k, dict) or not k.get("kid"):
            raise ValueError(f"keys[{i}] has no kid")
        if "d" in k:
            raise ValueError(f"keys[{i}] ({k['kid']}) is a private key: register public keys "
                             "only")
        alg = k.get("alg") or {"RSA": "RS384", "EC": "ES384"}.get(k.get("kty"))
        if alg not in ALGORITHMS:
            raise ValueError(f"keys[{i}] ({k['kid']}): algorithm {alg!r} is not one of "
                             f"{', '.join(ALGORITHMS)}")
        try:
            keys[k["kid"]] = jwt.PyJWK(k, alg)
        except jwt.PyJWKError as exc:
            raise ValueError(f"keys[{i}] ({k['kid']}): {exc}") from None
    return keys


class Issuer:
    """A trusted token issuer: its `iss` value and where its keys come from (a JWKS file, a
    JWKS URL fetched and cached by PyJWKClient, or keys given directly)."""

    def __init__(self, issuer: str, *, keys: dict[str, jwt.PyJWK] | None = None,
                 jwks_file: str | None = None, jwks_uri: str | None = None):
        self.issuer = issuer
        self._keys = keys
        self._client = None
        if jwks_file:
            self._keys = key_set(json.loads(Path(jwks_file).read_text()))
        elif jwks_uri:
            self._client = jwt.PyJWKClient(jwks_uri, cache_jwk_set=True, lifespan=300,
                                           timeout=10)
        if self._keys is None and self._client is None:
            raise ValueError(f"issuer {issuer}: give jwks_file or jwks_uri")

    def key(self, kid: str | None) -> jwt.PyJWK | None:
        if not kid:
            return None
        if self._keys is not None:
            return self._keys.get(kid)
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientError:
            return None

    @classmethod
    def from_config(cls, text: str | None) -> list["Issuer"]:
        """FHIRSVC_AUTH_ISSUERS: a JSON list of {"issuer", "jwks_uri" | "jwks_file"}."""
        if not text:
            return []
        items = json.loads(text)
        return [cls(i["issuer"], jwks_file=i.get("jwks_file"), jwks_uri=i.get("jwks_uri"))
                for i in items]


class SigningKey:
    """The key the built-in authorization server signs access tokens with (RSA, RS384).
    Created on first use as a PEM file (mode 0600); every process of one server reads it."""

    def __init__(self, private_key):
        self.private_key = private_key
        pub = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.kid = thumbprint(pub)
        self.public_jwk = dict(pub, kid=self.kid, alg=OWN_ALGORITHM, use="sig")
        self.verification_key = jwt.PyJWK(self.public_jwk, OWN_ALGORITHM)

    @classmethod
    def load_or_create(cls, path: Path) -> "SigningKey":
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-")
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)  # atomic: two processes starting at once keep one key
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: the signing key must be an RSA private key")
        return cls(key)

    def jwks(self) -> dict:
        return {"keys": [self.public_jwk]}

    def issue(self, claims: dict) -> str:
        return jwt.encode(claims, self.private_key, algorithm=OWN_ALGORITHM,
                          headers={"kid": self.kid, "typ": "JWT"})


def new_jti() -> str:
    return uuid.uuid4().hex


def _int_claim(claims: dict, name: str) -> int | None:
    value = claims.get(name)
    return None if value is None else int(value)   # PyJWT accepted it as an integer


class TokenVerifier:
    CACHE_SIZE = 4096     # tokens kept at most (a few per active client)

    def __init__(self, own: SigningKey | None, issuers: list[Issuer], skew: int = 60,
                 clock=time.time):
        self.own = own
        self.issuers = {i.issuer: i for i in issuers}
        self.skew = skew
        self.clock = clock       # the cache's clock; PyJWT's own is the wall clock too
        # (token, audience, own issuer) -> (claims, kid, key it was verified with, exp, nbf,
        # iat)
        self._verified: dict[tuple, tuple] = {}
        self._lock = threading.Lock()
        self.hits = 0            # tests, benchmarks

    def verify(self, token: str, *, audience: str, own_issuer: str | None) -> Claims:
        entry = (token, audience, own_issuer)
        kept = self._verified.get(entry)
        if kept is not None:
            claims, kid, key, exp, nbf, iat = kept
            now, skew = self.clock(), self.skew
            # PyJWT's own tests: expired when exp <= now - leeway, early when nbf or iat >
            # now + leeway; a key the issuer no longer names (rotated JWKS) verifies anew
            if exp > now - skew and (nbf is None or nbf <= now + skew) \
                    and (iat is None or iat <= now + skew) \
                    and self._key(claims.issuer, kid, own_issuer) is key:
                self.hits += 1
                return claims
            with self._lock:
                self._verified.pop(entry, None)
        claims, kid, key = self._verify(token, audience=audience, own_issuer=own_issuer)
        raw = claims.raw
        with self._lock:
            if len(self._verified) >= self.CACHE_SIZE:
                now = self.clock()
                for k in [k for k, v in self._verified.items() if v[3] <= now - self.skew]:
                    del self._verified[k]
                while len(self._verified) >= self.CACHE_SIZE:   # oldest first
                    del self._verified[next(iter(self._verified))]
            self._verified[entry] = (claims, kid, key, _int_claim(raw, "exp"),
                                     _int_claim(raw, "nbf"), _int_claim(raw, "iat"))
        return claims

    def _key(self, iss: str | None, kid: str | None, own_issuer: str | None):
        """The key `iss` names `kid` with now (None: unknown)."""
        if self.own is not None and own_issuer is not None and iss == own_issuer:
            return self.own.verification_key if kid == self.own.kid else None
        if iss in self.issuers:
            return self.issuers[iss].key(kid)
        return None

    def _verify(self, token: str, *, audience: str, own_issuer: str | None
                ) -> tuple[Claims, str, jwt.PyJWK]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("the access token is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:  # "none", HS256 (a public key as an HMAC secret), ...
            raise InvalidToken(f"algorithm {alg!r} is not accepted "
                               f"({', '.join(ALGORITHMS)})")
        iss = unverified.get("iss")
        kid = header.get("kid")
        if self.own is not None and own_issuer is not None and iss == own_issuer:
            key = self.own.verification_key if kid == self.own.kid else None
        elif iss in self.issuers:
            key = self.issuers[iss].key(kid)
        else:
            raise InvalidToken(f"issuer {iss!r} is not trusted by this server")
        if key is None:
            raise InvalidToken(f"the token is signed with a key this server does not know "
                               f"(kid {kid!r})")
        if key.algorithm_name != alg:
            raise InvalidToken(f"key {kid!r} is for {key.algorithm_name}, not {alg}")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=iss,
                                leeway=self.skew,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the access token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"the access token is not for this server (aud must be "
                               f"{audience})") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the access token is not valid: {exc}") from None
        scope = claims.get("scope") or ""
        if not isinstance(scope, str):
            scope = " ".join(scope) if isinstance(scope, list) else ""
        return Claims(subject=str(claims["sub"]),
                      client_id=str(claims.get("client_id") or claims["sub"]),
                      scope=scope, patient=claims.get("patient"),
                      fhir_user=claims.get("fhirUser"),
                      client_class=str(claims.get("client_class") or "standard"),
                      issuer=iss, raw=claims), kid, key


def now() -> int:
    return int(time.time())
