"""RequestContext: who asks, through which door, with what strictness, for which base URL.

Every service method takes one. The HTTP adapter builds it from the request; the CLI, the job
worker and (later) the HL7 v2 and MLLP doors build their own. It is plain data: no Flask here.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

# The doors a request can come through (audit, provenance and policy read this).
DOOR_REST = "rest"
DOOR_CLI = "cli"
DOOR_WORKER = "worker"
DOOR_UI = "ui"          # the web pages (fhirsvc/ui/)


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RequestContext:
    base_url: str                       # the FHIR base for fullUrl, Location and links
    door: str = DOOR_REST
    request_id: str = field(default_factory=new_request_id)
    caller: str | None = None           # authenticated identity (None while auth is off)
    scopes: frozenset[str] = frozenset()
    # Prefer: handling=strict makes unknown search parameters an error instead of a warning.
    strict_handling: bool = False
    # Resources of the types the guide profiles must conform to its profiles (registries).
    require_guide_profiles: bool = False
    # Security (fhirsvc/security, docs/security.md): `enforce` makes every service check
    # `scopes` (set by a door that authenticated a token); trusted doors (CLI, worker) and
    # auth=off leave it False. `patient`: the token's patient context (patient/ scopes).
    enforce: bool = False
    patient: str | None = None
    user: str | None = None             # fhirUser of the token, when there is one
    # what the user directory lets `user` do, as scopes (None: no directory in play); user/
    # scopes grant only what these grant too (fhirsvc/security/guard.py, docs/security.md)
    user_scopes: frozenset[str] | None = None
    client_class: str | None = None     # the limits of the caller (config client_classes)
    source: str | None = None           # where the request came from (network address)

    def __post_init__(self):
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def with_(self, **changes) -> "RequestContext":
        return replace(self, **changes)
