"""An endpoint: one configured remote FHIR system, as plain data.

    Endpoint.from_settings("hospital-a", "https://fhir.hospital-a.org/r4", {
        "auth": {"type": "smart", "client_id": "fhirsvc", "jwk": {...private JWK...},
                 "scope": "system/*.read"},
        "rate_limit": 10,              # requests per second (0: no limit)
        "timeout": [5, 60],            # connect, read seconds
        "ca_bundle": "/etc/ssl/hospital-a.pem",
        "concept_maps": ["http://example.org/ConceptMap/local-labs"],
        "types": ["Patient", "Observation"],   # what a plain pull searches
        "strict": false,               # the guide's profiles required for pulled data
        "page_size": 100})

The settings are checked here once (ValueError with a message a person can act on), when the
endpoint is added and again when a job loads it. The base URL is the only place fhirsvc fetches
from for this endpoint (plus `extra_origins` for Bulk Data files on another host).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

AUTH_TYPES = ("none", "bearer", "smart")
SMART_ALGS = {"RSA": "RS384", "EC": "ES384"}
# The patient data a plain pull searches when the endpoint names no types.
DEFAULT_TYPES = ("Organization", "Practitioner", "Patient", "Encounter", "Condition",
                 "Observation", "Procedure", "MedicationRequest", "Immunization",
                 "DiagnosticReport", "CarePlan", "Goal", "AllergyIntolerance", "Claim",
                 "ExplanationOfBenefit")
_KNOWN = {"auth", "rate_limit", "timeout", "ca_bundle", "concept_maps", "types", "strict",
          "page_size", "extra_origins", "max_retries", "max_retry_after"}


def _url(value: str, what: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or \
            parts.fragment:
        raise ValueError(f"{what} must be an absolute http(s) URL without query or fragment, "
                         f"not {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class Auth:
    type: str = "none"
    token: str | None = None          # bearer
    client_id: str | None = None      # smart
    jwk: dict | None = None           # smart: the private JWK (RSA or EC P-384)
    scope: str = "system/*.read"
    token_url: str | None = None      # smart: discovered from .well-known when absent

    @property
    def algorithm(self) -> str:
        return SMART_ALGS[self.jwk["kty"]]

    @classmethod
    def from_dict(cls, raw: dict | None) -> "Auth":
        raw = dict(raw or {"type": "none"})
        kind = raw.get("type", "none")
        if kind not in AUTH_TYPES:
            raise ValueError(f"auth type must be one of {', '.join(AUTH_TYPES)}, not {kind!r}")
        if kind == "bearer" and not raw.get("token"):
            raise ValueError("bearer auth needs a token")
        if kind == "smart":
            if not raw.get("client_id"):
                raise ValueError("SMART Backend Services auth needs a client id")
            jwk = raw.get("jwk")
            if not isinstance(jwk, dict) or jwk.get("kty") not in SMART_ALGS or "d" not in jwk:
                raise ValueError("SMART Backend Services auth needs a private JWK of kty RSA "
                                 "(RS384) or EC (ES384, curve P-384)")
            if jwk["kty"] == "EC" and jwk.get("crv") != "P-384":
                raise ValueError(f"an ES384 JWK has curve P-384, not {jwk.get('crv')!r}")
            if raw.get("token_url"):
                _url(raw["token_url"], "token_url")
        return cls(kind, raw.get("token"), raw.get("client_id"), raw.get("jwk"),
                   raw.get("scope") or "system/*.read", raw.get("token_url"))

    def public(self) -> dict:
        """What `endpoints list` shows: never the token or the key."""
        out: dict = {"type": self.type}
        if self.type == "smart":
            out.update(client_id=self.client_id, scope=self.scope, alg=self.algorithm,
                       kid=self.jwk.get("kid"))
        return out


@dataclass(frozen=True)
class Endpoint:
    name: str
    base_url: str
    auth: Auth = field(default_factory=Auth)
    rate_limit: float = 0.0
    timeout: tuple[float, float] = (5.0, 60.0)
    ca_bundle: str | None = None
    concept_maps: tuple[str, ...] = ()
    types: tuple[str, ...] = DEFAULT_TYPES
    strict: bool = False
    page_size: int = 100
    extra_origins: tuple[str, ...] = ()
    max_retries: int = 4
    max_retry_after: float = 120.0
    settings: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_settings(cls, name: str, base_url: str, settings: dict) -> "Endpoint":
        from ..resource_types import RESOURCE_TYPES
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"endpoint name must be 1-64 letters, digits, - or _, not {name!r}")
        base_url = _url(base_url, "the base URL")
        unknown = set(settings) - _KNOWN
        if unknown:
            raise ValueError(f"unknown endpoint settings: {', '.join(sorted(unknown))} (known: "
                             f"{', '.join(sorted(_KNOWN))})")
        timeout = settings.get("timeout", (5.0, 60.0))
        if isinstance(timeout, (int, float)):
            timeout = (timeout, timeout)
        if len(timeout) != 2 or not all(isinstance(t, (int, float)) and t > 0 for t in timeout):
            raise ValueError(f"timeout is seconds > 0, or [connect, read], not {timeout!r}")
        types = tuple(settings.get("types") or DEFAULT_TYPES)
        bad = [t for t in types if t not in RESOURCE_TYPES]
        if bad:
            raise ValueError(f"types holds names that are not R4 resource types: {bad}")
        rate = settings.get("rate_limit", 0)
        if not isinstance(rate, (int, float)) or rate < 0:
            raise ValueError(f"rate_limit is requests per second >= 0, not {rate!r}")
        page = settings.get("page_size", 100)
        if not isinstance(page, int) or not 1 <= page <= 1000:
            raise ValueError(f"page_size is 1 to 1000, not {page!r}")
        return cls(name, base_url, Auth.from_dict(settings.get("auth")), float(rate),
                   (float(timeout[0]), float(timeout[1])), settings.get("ca_bundle"),
                   tuple(settings.get("concept_maps") or ()), types,
                   bool(settings.get("strict", False)), page,
                   tuple(_url(o, "extra_origins") for o in settings.get("extra_origins") or ()),
                   int(settings.get("max_retries", 4)),
                   float(settings.get("max_retry_after", 120.0)), dict(settings))

    def allows(self, url: str) -> bool:
        """Whether `url` may be fetched for this endpoint: under its base URL (same scheme,
        host and port, path below the base) or under one of its extra origins. Links and
        references from remote data never widen this (no SSRF)."""
        parts = urlsplit(url)
        for allowed in (self.base_url,) + self.extra_origins:
            a = urlsplit(allowed)
            if (parts.scheme, parts.netloc.lower()) != (a.scheme, a.netloc.lower()):
                continue
            base_path = a.path.rstrip("/")
            if parts.path == base_path or parts.path.startswith(base_path + "/") or \
                    (not base_path and parts.path.startswith("/")) or not base_path:
                if ".." not in parts.path.split("/"):
                    return True
        return False

    def public(self) -> dict:
        out = {k: v for k, v in self.settings.items() if k != "auth"}
        out["auth"] = self.auth.public()
        return {"name": self.name, "base_url": self.base_url, **out}
