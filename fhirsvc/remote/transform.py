"""Remote resources -> local ones: identity, references, codes.

Identity is the remote's full URL (`{base}/{type}/{id}`): the local id is the name-based UUID
of that URL (uuid5, RFC 4122), so the same remote resource always lands on the same local
resource whichever page, pull mode or worker brings it, a reference to a resource not pulled
yet already names its future local id, and pulling twice finds what it stored (no look-up
table to keep in step). `meta.source` keeps the remote URL readable on the resource.

References: `Type/id` and absolute URLs under the endpoint's base become `Type/<local id>`;
contained (`#x`) references stay; references elsewhere (another server, `urn:`) stay as they
are and are never fetched.

Codes: the endpoint's ConceptMaps (stored locally) translate each Coding of a mapped source
system; the translation is added beside the original Coding (the original stays: it is what
the hospital recorded). A code of a mapped system that the map does not know is reported.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from ..resource_types import RESOURCE_TYPES

_REF_RE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[^/]+)?$")
# what a ConceptMap element's target equivalence must be for it to be used as a translation
USABLE = frozenset({"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower",
                    "specializes", "inexact"})


def remote_url(base_url: str, rtype: str, rid: str) -> str:
    return f"{base_url.rstrip('/')}/{rtype}/{rid}"


def local_id(url: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, url))


def local_reference(base_url: str, ref: str) -> str | None:
    """The local `Type/id` for a reference to the remote (relative, or absolute under
    `base_url`); None for any other reference."""
    base = base_url.rstrip("/")
    tail = ref[len(base) + 1:] if ref.startswith(base + "/") else ref
    if "://" in tail or tail.startswith(("urn:", "#")):
        return None
    m = _REF_RE.match(tail)
    if not m or m.group(1) not in RESOURCE_TYPES:
        return None
    return f"{m.group(1)}/{local_id(remote_url(base, m.group(1), m.group(2)))}"


@dataclass
class Translator:
    """Code translations from ConceptMaps: (source system, code) -> target Codings."""
    maps: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    systems: set[str] = field(default_factory=set)   # source systems some map covers

    @classmethod
    def from_concept_maps(cls, concept_maps) -> "Translator":
        t = cls()
        for cm in concept_maps:
            for group in cm.get("group", []):
                source, target = group.get("source"), group.get("target")
                if not source or not target:
                    continue
                t.systems.add(source)
                for element in group.get("element", []):
                    for tgt in element.get("target", []):
                        if tgt.get("equivalence", "equivalent") not in USABLE or \
                                not tgt.get("code"):
                            continue
                        coding = {"system": target, "code": tgt["code"]}
                        if tgt.get("display"):
                            coding["display"] = tgt["display"]
                        t.maps.setdefault((source, element.get("code")), []).append(coding)
        return t

    def __bool__(self) -> bool:
        return bool(self.systems)


@dataclass
class Localised:
    resource: dict
    remote: str                 # the remote full URL
    unknown_codes: list[str]    # "system|code" of mapped systems with no translation


def localise(resource: dict, base_url: str, translator: Translator | None = None) -> Localised:
    """A local copy of one remote resource (the input is not changed)."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    url = remote_url(base_url, rtype, rid)
    unknown: list[str] = []

    def walk(node, key=None):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "reference" and isinstance(v, str):
                    out[k] = local_reference(base_url, v) or v
                elif k in ("contained",) and isinstance(v, list):
                    out[k] = [walk_contained(c) for c in v]
                else:
                    out[k] = walk(v, k)
            return out
        if isinstance(node, list):
            items = [walk(v, key) for v in node]
            if key == "coding" and translator:
                items = translate(items)
            return items
        return node

    def walk_contained(c):
        return walk(c) if isinstance(c, dict) else c

    def translate(codings: list) -> list:
        have = {(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)}
        added = []
        for c in codings:
            if not isinstance(c, dict) or c.get("system") not in translator.systems:
                continue
            targets = translator.maps.get((c["system"], c.get("code")))
            if not targets:
                unknown.append(f"{c['system']}|{c.get('code')}")
                continue
            for t in targets:
                if (t["system"], t["code"]) not in have:
                    have.add((t["system"], t["code"]))
                    added.append(dict(t))
        return codings + added

    out = walk(resource)
    out["id"] = local_id(url)
    meta = {k: v for k, v in (out.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated", "source")}
    meta["source"] = url
    out["meta"] = meta
    return Localised(out, url, unknown)


def same_content(stored: dict, new: dict) -> bool:
    """Whether storing `new` over `stored` would change nothing but version and time."""
    def strip(r):
        r = dict(r)
        meta = {k: v for k, v in (r.get("meta") or {}).items()
                if k not in ("versionId", "lastUpdated")}
        r["meta"] = meta
        return r
    return strip(stored) == strip(new)
