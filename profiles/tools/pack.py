"""Pack the compiled guide as a FHIR NPM package and write guide.json (both deterministic).

First writes the guide's ImplementationGuide resource into fsh-generated/resources/ (generated
from the compiled resources and the example Bundles, so it can never list something that is not
there). package.tgz then holds package/package.json, package/.index.json, every compiled
resource, and the example Bundles under package/example/ (with their own .index.json). Entries
are sorted, owned by 0:0 with a fixed mtime, and the gzip header carries no timestamp or file
name, so a rebuild is byte-identical.
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
EXAMPLES = HERE.parent / "examples"
EXAMPLE_BUNDLES = ("case-a", "case-b", "cohort")
TITLE = "Calcinosis in systemic sclerosis implementation guide"
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
        "title": TITLE,
        "description": "FHIR R4 profiles, extensions, terminology and search parameters for "
                       "calcinosis (including spinal calcinosis) in systemic sclerosis.",
        "fhirVersions": [cfg["fhirVersion"]],
        "type": "fhir.ig",
        "license": "CC0-1.0",
        "author": "fhirsvc project",
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
    }


def examples() -> list[tuple[str, dict]]:
    """The example Bundles (absent before the first generator run: the guide builds without them)."""
    out = []
    for name in EXAMPLE_BUNDLES:
        p = EXAMPLES / f"{name}.json"
        if p.is_file():
            out.append((f"Bundle-{name}.json", json.loads(p.read_text())))
    return out


def implementation_guide(cfg: dict, res: list[tuple[str, dict]], ex: list[tuple[str, dict]]) -> dict:
    """R4 ImplementationGuide: every compiled resource, and each example Bundle with the
    profile it conforms to (exampleCanonical), so the IG Publisher and registries accept it."""
    entries = []
    for _, r in res:
        if r["resourceType"] == "ImplementationGuide":
            continue
        entry = {"reference": {"reference": f"{r['resourceType']}/{r['id']}"}}
        if r.get("title") or r.get("name"):
            entry["name"] = r.get("title") or r.get("name")
        if r.get("description"):
            entry["description"] = r["description"]
        entry["exampleBoolean"] = False
        entries.append(entry)
    for _, b in ex:
        entries.append({"reference": {"reference": f"Bundle/{b['id']}"},
                        "name": f"Example: {b['id']}",
                        "description": "Transaction Bundle of the seed case or synthetic cohort "
                                       f"'{b['id']}' (examples/{b['id']}.json).",
                        "exampleCanonical": b["meta"]["profile"][0]})
    return {
        "resourceType": "ImplementationGuide",
        "id": PACKAGE_ID,
        "url": f"{cfg['canonical']}/ImplementationGuide/{PACKAGE_ID}",
        "version": cfg["version"],
        "name": "CalcinosisInSystemicSclerosis",
        "title": TITLE,
        "status": cfg.get("status", "draft"),
        "experimental": False,
        "publisher": "fhirsvc project",
        "description": "FHIR R4 profiles, extensions, terminology and search parameters for calcinosis "
                       "(including spinal calcinosis) in systemic sclerosis, with registry variables "
                       "(ACR/EULAR 2013 classification, mRSS, digital ulcers, ILD extent).",
        "packageId": PACKAGE_ID,
        "license": "CC0-1.0",
        "fhirVersion": [cfg["fhirVersion"]],
        "definition": {"resource": entries},
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
    ex = examples()
    ig = implementation_guide(cfg, [r for r in resources() if r[1]["resourceType"] != "ImplementationGuide"], ex)
    (RESOURCES / f"ImplementationGuide-{PACKAGE_ID}.json").write_bytes(dumps(ig))
    res = resources()
    members = {"package/package.json": dumps(package_json(cfg)),
               "package/.index.json": dumps(index_json(res))}
    for name, _ in res:
        members["package/" + name] = (RESOURCES / name).read_bytes()
    if ex:
        members["package/example/.index.json"] = dumps(index_json(ex))
        for name, b in ex:
            members["package/example/" + name] = dumps(b)
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
