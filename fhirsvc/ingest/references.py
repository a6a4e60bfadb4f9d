"""References inside resources: find them, and rewrite fullUrl identities to stored ids.

A transaction's entries refer to each other by fullUrl (`urn:uuid:...`, `urn:oid:...` or an
absolute URL); once ids are known every such reference (extensions and contained resources
included) and every narrative link to it becomes `Type/id`. Rewriting copies only the objects
on the way to a changed value, so the caller's resource is never modified.
"""
from __future__ import annotations

import re

_HREF_RE = re.compile(r'(href|src)="([^"]+)"')


def iter_references(node) -> list[str]:
    """Every `reference` string anywhere in a resource (extensions, contained included), in
    document order. A list filled by one recursive function: a generator per object (yield
    from at every level) cost ~5% of a transaction's ingest."""
    out: list[str] = []
    _collect(node, out)
    return out


def _collect(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                out.append(value)
            elif isinstance(value, (dict, list)):
                _collect(value, out)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _collect(item, out)


def conditional_only(refs) -> set[str]:
    """The conditional references (`Type?query`) among `refs`."""
    return {r for r in refs if "?" in r and not r.startswith(("http:", "https:", "urn:"))}


def urn_only(refs) -> set[str]:
    """The `urn:uuid:` / `urn:oid:` identities among `refs`."""
    return {r for r in refs if r.startswith(("urn:uuid:", "urn:oid:"))}


def rewritten(node, mapping: dict[str, str]):
    """`node` with every reference (and narrative href/src) that is a key of `mapping`
    replaced by its value; the same object when nothing in it changes."""
    if isinstance(node, dict):
        out = None
        for key, value in node.items():
            new = value
            if key == "reference" and isinstance(value, str):
                new = mapping.get(value, value)
            elif key == "div" and isinstance(value, str) and ("urn:" in value or "://" in value):
                new = _HREF_RE.sub(
                    lambda m: f'{m.group(1)}="{mapping.get(m.group(2), m.group(2))}"', value)
                if new == value:
                    new = value
            elif isinstance(value, (dict, list)):
                new = rewritten(value, mapping)
            if new is not value:
                if out is None:
                    out = dict(node)
                out[key] = new
        return node if out is None else out
    if isinstance(node, list):
        out = None
        for i, item in enumerate(node):
            if isinstance(item, (dict, list)):
                new = rewritten(item, mapping)
                if new is not item:
                    if out is None:
                        out = list(node)
                    out[i] = new
        return node if out is None else out
    return node
