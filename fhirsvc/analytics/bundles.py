"""Bundles -> stored-like resources: each entry gets an id (kept, or derived from its fullUrl)
and every urn:uuid reference becomes Type/id, as the ingestion path stores them."""
from __future__ import annotations

import uuid


def _rewrite(node, refs: dict[str, str]):
    if isinstance(node, dict):
        return {k: (refs.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, refs))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(x, refs) for x in node]
    return node


def resources_from_bundles(*bundles: dict) -> list[dict]:
    refs: dict[str, str] = {}
    entries: list[tuple[str, dict]] = []
    for b in bundles:
        for e in b.get("entry") or ():
            res = e.get("resource")
            if not isinstance(res, dict):
                continue
            full = e.get("fullUrl") or ""
            rid = res.get("id") or (full.rsplit(":", 1)[-1] if full.startswith("urn:uuid:")
                                     else str(uuid.uuid5(uuid.NAMESPACE_URL, full or repr(res)[:200])))
            if full:
                refs[full] = f"{res['resourceType']}/{rid}"
            entries.append((rid, res))
    return [{**_rewrite(res, refs), "id": rid} for rid, res in entries]
