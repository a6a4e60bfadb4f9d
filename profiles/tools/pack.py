"""Pack the compiled guide as a FHIR NPM package and write guide.json (both deterministic).

package.tgz holds package/package.json, package/.index.json and every compiled resource from
fsh-generated/resources/. Entries are sorted, owned by 0:0 with a fixed mtime, and the gzip
header carries no timestamp or file name, so a rebuild is byte-identical.
"""
from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent          # profiles/
RESOURCES = HERE / "fsh-generated" / "resources"
MTIME = 1763683200                                     # 2025-11-21T00:00:00Z, fixed

PACKAGE_ID = "fhirsvc.calcinosis"
SPINAL_ORDER = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + \
    [f"L{i}" for i in range(1, 6)] + [f"S{i}" for i in range(1, 6)]


def config() -> dict:
    out = {}
    for line in (HERE / "sushi-config.yaml").read_text().splitlines():
        m = re.match(r"^(\w+):\s*(\S.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def resources() -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(RESOURCES.glob("*.json"))]


def dumps(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def package_json(cfg: dict) -> dict:
    return {
        "name": PACKAGE_ID,
        "version": cfg["version"],
        "canonical": cfg["canonical"],
        "url": cfg["canonical"],
        "title": "Calcinosis in systemic sclerosis implementation guide",
        "description": "FHIR R4 profiles, extensions, terminology and search parameters for "
                       "calcinosis (including spinal calcinosis) in systemic sclerosis.",
        "fhirVersions": [cfg["fhirVersion"]],
        "type": "fhir.ig",
        "license": "CC0-1.0",
        "author": "fhirsvc project",
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
    }


def index_json(res: list[tuple[str, dict]]) -> dict:
    files = []
    for name, r in res:
        entry = {"filename": name, "resourceType": r["resourceType"], "id": r.get("id")}
        for key in ("url", "version", "kind", "type", "derivation", "supplements"):
            if key in r and isinstance(r[key], str):
                entry[key] = r[key]
        files.append(entry)
    return {"index-version": 1, "files": files}


def guide_json(cfg: dict, res: list[tuple[str, dict]]) -> dict:
    by_type: dict[str, list[str]] = {}
    extensions, valuesets, codesystems, searchparams, conceptmaps = [], [], [], [], []
    for _, r in res:
        rt = r["resourceType"]
        if rt == "StructureDefinition" and r.get("type") == "Extension":
            extensions.append(r["url"])
        elif rt == "StructureDefinition":
            by_type.setdefault(r["type"], []).append(r["url"])
        elif rt == "ValueSet":
            valuesets.append(r["url"])
        elif rt == "CodeSystem":
            codesystems.append(r["url"])
        elif rt == "SearchParameter":
            searchparams.append({"code": r["code"], "url": r["url"], "type": r["type"],
                                 "base": r["base"], "expression": r["expression"]})
        elif rt == "ConceptMap":
            conceptmaps.append(r["url"])
    spinal_vs = next(r for _, r in res if r["resourceType"] == "ValueSet" and r["id"] == "spinal-level")
    order = [c for inc in spinal_vs["compose"]["include"] for c in
             ({"system": inc["system"], "code": x["code"], "display": x.get("display")} for x in inc["concept"])]
    order.sort(key=lambda c: SPINAL_ORDER.index(c["display"]))
    return {
        "canonical": cfg["canonical"],
        "version": cfg["version"],
        "fhirVersion": cfg["fhirVersion"],
        "packageId": PACKAGE_ID,
        "package": "profiles/package.tgz",
        "resources": "profiles/fsh-generated/resources",
        "profilesByType": {k: sorted(v) for k, v in sorted(by_type.items())},
        "extensions": sorted(extensions),
        "valueSets": sorted(valuesets),
        "codeSystems": sorted(codesystems),
        "conceptMaps": sorted(conceptmaps),
        "searchParameters": sorted(searchparams, key=lambda s: s["code"]),
        "spinalLevelOrder": order,
        "syntheticTag": {"system": cfg["canonical"] + "/CodeSystem/calcinosis-ig", "code": "synthetic"},
        "fhirpathNote": "SearchParameter and invariant expressions use extension('url').value; "
                        "evaluate them with the R4 model (fhirpathpy models['r4']) so value[x] resolves.",
    }


def add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tf.addfile(info, io.BytesIO(data))


def main() -> None:
    cfg = config()
    res = resources()
    members = {"package/package.json": dumps(package_json(cfg)),
               "package/.index.json": dumps(index_json(res))}
    for name, _ in res:
        members["package/" + name] = (RESOURCES / name).read_bytes()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name in sorted(members):
            add(tf, name, members[name])
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    (HERE / "package.tgz").write_bytes(buf.getvalue())
    (HERE / "guide.json").write_bytes(dumps(guide_json(cfg, res)))


if __name__ == "__main__":
    main()
