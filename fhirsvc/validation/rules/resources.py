"""Rules of particular types (value scope): Narrative content and Bundle entries."""
from __future__ import annotations

from ..run import issue
from .references import ABS_URL


def narrative(value, element, type_code, location, run):
    """Narrative.div carries no script (the xhtml rules the walker can see)."""
    div = value.get("div") if value.__class__ is dict else None
    if isinstance(div, str) and "<script" in div.lower():
        return (issue("error", "invalid", "The narrative contains a script element",
                      f"{location}.div"),)
    return ()


def bundle(value, element, type_code, location, run):
    """Bundle.entry.fullUrl is absolute, agrees with the resource id, and is unique (outside
    history bundles, unless versions differ)."""
    if value.__class__ is not dict:
        return ()
    out = []
    seen: dict[str, int] = {}
    btype = value.get("type")
    entries = value.get("entry")
    for i, e in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(e, dict):
            continue
        full = e.get("fullUrl")
        if not isinstance(full, str):
            continue
        where = f"{location}.entry[{i}]"
        if not ABS_URL.match(full):
            out.append(issue("error", "invalid",
                             f"The fullUrl must be an absolute URL (not '{full}')", where))
        res = e.get("resource")
        if isinstance(res, dict) and isinstance(res.get("id"), str) and \
                full.startswith(("http://", "https://")) and \
                not full.endswith(f"/{res.get('resourceType')}/{res['id']}"):
            out.append(issue("error", "invalid",
                             f"The fullUrl '{full}' does not match the resource id "
                             f"'{res.get('resourceType')}/{res['id']}'", where))
        if btype != "history" and full in seen:
            vid = None
            if isinstance(res, dict) and isinstance(res.get("meta"), dict):
                vid = res["meta"].get("versionId")
            if vid is None:
                out.append(issue("error", "duplicate",
                                 f"Duplicate fullUrl '{full}' (also in entry {seen[full]})",
                                 where))
        seen.setdefault(full, i)
    return out
