"""The Synthea transaction bundles (shared conformance material, read in place) as plain
resources with local references, optionally replicated under new ids.

The folder is `$FHIRSVC_SYNTHEA_DIR`, by default `../shared/conformance/synthea` beside the
repository.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SYNTHEA = Path(os.environ.get("FHIRSVC_SYNTHEA_DIR",
                              ROOT.parent / "shared" / "conformance" / "synthea"))


def available() -> bool:
    return SYNTHEA.is_dir() and any(SYNTHEA.glob("*.json"))


def _rewrite(node, refs: dict[str, str]):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and v in refs:
                out[k] = refs[v]
            else:
                out[k] = _rewrite(v, refs)
        return out
    if isinstance(node, list):
        return [_rewrite(x, refs) for x in node]
    return node


def load(copy: int | None = None) -> list[tuple[str, str, dict]]:
    """(type, id, resource) for every entry of every bundle; `copy` k gives new ids
    (`<uuid>-k`) with references rewritten consistently."""
    bundles = [json.loads(f.read_text()) for f in sorted(SYNTHEA.glob("*.json"))]
    refs: dict[str, str] = {}
    entries = []
    for b in bundles:
        for e in b.get("entry", []):
            res = e["resource"]
            rid = res.get("id") or e["fullUrl"].rsplit(":", 1)[-1]
            if copy is not None:
                rid = f"{rid[:56]}-{copy}"
            refs[e["fullUrl"]] = f"{res['resourceType']}/{rid}"
            entries.append((res["resourceType"], rid, res))
    out = []
    seen = set()
    for rtype, rid, res in entries:
        if (rtype, rid) in seen:  # the same Organization/Practitioner in several bundles
            continue
        seen.add((rtype, rid))
        res = _rewrite(res, refs)
        res["id"] = rid
        out.append((rtype, rid, res))
    return out
