"""SMART App Launch 2.2 resource scopes (v2, with the v1 `.read` / `.write` / `.*` forms).

    parse_scope("patient/Observation.rs?category=laboratory")
        -> Scope(context="patient", rtype="Observation", perms="rs",
                 query=(("category", "laboratory"),))
    Grants.of("system/Patient.rs user/*.read").allowing("Observation", "r") -> [Scope, ...]

Why by hand: no maintained library parses SMART scopes; the grammar is small
(`context/type.perms[?query]`, perms an in-order subset of `cruds`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

CONTEXTS = ("patient", "user", "system")
LETTERS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE_RE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.*))?$")

# The scope this server asks of an auditor (AuditEvent read/search) and of an administrator
# (client registration): ordinary resource scopes on the AuditEvent type, and one of its own.
AUDITOR_SCOPE = "system/AuditEvent.rs"
ADMIN_SCOPE = "fhirsvc/admin"


@dataclass(frozen=True)
class Scope:
    context: str                      # patient | user | system
    rtype: str                        # a resource type or "*"
    perms: str                        # in-order subset of "cruds"
    query: tuple[tuple[str, str], ...] = ()
    text: str = ""                    # as granted (messages, audit)

    def grants(self, rtype: str, letter: str) -> bool:
        return letter in self.perms and self.rtype in ("*", rtype)

    def covers(self, other: "Scope") -> bool:
        """Does holding `self` imply `other`? (token requests: granted <= registered)"""
        return (self.context == other.context and self.rtype in ("*", other.rtype)
                and set(other.perms) <= set(self.perms)
                and (not self.query or self.query == other.query))


def parse_scope(text: str) -> Scope | None:
    """A resource scope, or None for the others (openid, launch/patient, fhirUser, ...).
    A malformed resource scope (`patient/Observation.xyz`) is a ValueError."""
    m = _SCOPE_RE.match(text)
    if m is None:
        if re.match(r"^(patient|user|system)/", text):
            raise ValueError(f"{text!r} is not a SMART scope (context/Type.cruds)")
        return None
    context, rtype, perms, query = m.groups()
    if perms in V1:
        if query:
            raise ValueError(f"{text!r}: query constraints need v2 permissions (.rs, ...)")
        perms = V1[perms]
    elif not perms or "*" in perms or not _in_order(perms):
        raise ValueError(f"{text!r}: permissions are an in-order subset of .cruds "
                         "(or .read / .write / .*)")
    return Scope(context, rtype, perms, tuple(parse_qsl(query or "", keep_blank_values=True)),
                 text)


def _in_order(perms: str) -> bool:
    pos = -1
    for ch in perms:
        i = LETTERS.find(ch)
        if i <= pos:
            return False
        pos = i
    return True


def split(scope_string: str) -> list[str]:
    return [s for s in (scope_string or "").split() if s]


@dataclass(frozen=True)
class Grants:
    """The resource scopes of one token (other scopes kept as text)."""
    scopes: tuple[Scope, ...]
    others: frozenset[str] = frozenset()

    @classmethod
    def of(cls, scopes) -> "Grants":
        if isinstance(scopes, (str, frozenset)):
            return _grants_of(scopes)   # a token's scopes: parsed once, not per check
        return cls._parse(scopes)

    @classmethod
    def _parse(cls, scopes) -> "Grants":
        items = split(scopes) if isinstance(scopes, str) else list(scopes)
        parsed, others = [], set()
        for s in items:
            try:
                p = parse_scope(s)
            except ValueError:
                p = None  # a token never carries what we could not have granted; ignore
            if p is None:
                others.add(s)
            else:
                parsed.append(p)
        return cls(tuple(parsed), frozenset(others))

    def allowing(self, rtype: str, letter: str) -> list[Scope]:
        return [s for s in self.scopes if s.grants(rtype, letter)]


@lru_cache(maxsize=4096)
def _grants_of(scopes) -> Grants:
    return Grants._parse(scopes)


__all__ = ["ADMIN_SCOPE", "AUDITOR_SCOPE", "Grants", "Scope", "parse_scope", "split"]
