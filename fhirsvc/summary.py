"""`_summary` and `_elements`: reduce a resource to what the client asked for (R4 search.html).

Reduced resources carry the SUBSETTED tag so nobody mistakes them for the whole resource.
"""
from __future__ import annotations

from .outcomes import fail
from .resource_types import ELEMENTS

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "Resource encoded in summary mode"}
SUMMARY_MODES = ("true", "false", "text", "data", "count")


def _matches(key: str, names: set[str]) -> bool:
    if key in names:
        return True
    base = key.lstrip("_")
    if base in names:
        return True
    # choice types: valueQuantity matches value[x]
    for name in names:
        if name.endswith("[x]") and base.startswith(name[:-3]) and base[len(name[:-3]):][:1].isupper():
            return True
    return False


def _tag(resource: dict) -> dict:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("code") == "SUBSETTED" for t in tags if isinstance(t, dict)):
        tags.append(dict(SUBSETTED))
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def check_summary(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in SUMMARY_MODES:
        raise fail(400, "invalid", f"_summary must be one of {', '.join(SUMMARY_MODES)}, not "
                   f"{value!r}", "_summary")
    return value


def summarise(resource: dict, mode: str | None) -> dict:
    if mode in (None, "false", "count"):
        return resource
    rtype = resource.get("resourceType")
    info = ELEMENTS.get(rtype, {"summary": [], "mandatory": []})
    if mode == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    elif mode == "text":
        keep = {"id", "meta", "text", *info["mandatory"]}
        out = {k: v for k, v in resource.items() if k == "resourceType" or _matches(k, keep)}
    else:  # true
        keep = set(info["summary"]) | {"id", "meta"}
        out = {k: v for k, v in resource.items() if k == "resourceType" or _matches(k, keep)}
    return _tag(out)


def select_elements(resource: dict, elements: str | None) -> dict:
    """Keep the listed top-level elements plus id, meta and the mandatory ones."""
    if not elements:
        return resource
    rtype = resource.get("resourceType")
    wanted = set()
    for item in elements.split(","):
        item = item.strip()
        if not item:
            continue
        # `Patient.name` and `name` both mean the top-level element name
        if "." in item:
            head, _, rest = item.partition(".")
            if head == rtype:
                item = rest.split(".")[0]
            else:
                item = head
        wanted.add(item)
    info = ELEMENTS.get(rtype, {"mandatory": []})
    keep = wanted | {"id", "meta", *info["mandatory"]}
    out = {k: v for k, v in resource.items() if k == "resourceType" or _matches(k, keep)}
    return _tag(out)
