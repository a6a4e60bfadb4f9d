"""The OperationDefinitions of the operations fhirsvc defines itself, served at
`OperationDefinition/[id]` when no stored resource has that id.

They are part of the implementation guide (profiles/input/fsh/operations*.fsh, compiled by
`make profiles` into profiles/fsh-generated/resources/OperationDefinition-*.json); the
CapabilityStatement names them by canonical URL. Read once per guide folder, as a version 1
whose lastUpdated is the definition's `date`.

    guide_operation(config, "registry-export")   # Stored | None
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import orjson

from ..storage.repository import Stored

_LOCK = threading.Lock()
_CACHE: dict[Path, dict[str, Stored]] = {}


def _load(folder: Path) -> dict[str, Stored]:
    out: dict[str, Stored] = {}
    for path in sorted(folder.glob("OperationDefinition-*.json")):
        res = orjson.loads(path.read_bytes())
        if res.get("resourceType") != "OperationDefinition" or not res.get("id"):
            continue
        day = datetime.fromisoformat(str(res.get("date") or "1970-01-01")[:10]).replace(
            tzinfo=timezone.utc)
        micros = int(day.timestamp() * 1_000_000)
        meta = dict(res.get("meta") or {}, versionId="1",
                    lastUpdated=day.strftime("%Y-%m-%dT%H:%M:%SZ"))
        res = {"resourceType": res["resourceType"], "id": res["id"], "meta": meta,
               **{k: v for k, v in res.items() if k not in ("resourceType", "id", "meta")}}
        out[res["id"]] = Stored(0, "OperationDefinition", res["id"], 1, micros, False, "PUT",
                                orjson.dumps(res).decode())
    return out


def guide_operations(config) -> dict[str, Stored]:
    folder = Path(config.profiles_dir) / "fsh-generated" / "resources"
    with _LOCK:
        if folder not in _CACHE:
            _CACHE[folder] = _load(folder) if folder.is_dir() else {}
        return _CACHE[folder]


def guide_operation(config, rid: str) -> Stored | None:
    return guide_operations(config).get(rid)
