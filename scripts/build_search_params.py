"""Build the compact search-parameter data file from the official R4 core package.

Reads the unpacked hl7.fhir.r4.core 4.0.1 package (see scripts/fetch_r4core.py) and writes
`fhirsvc/search/data/search_parameters.json.gz` (committed), holding:

- params: every core SearchParameter reduced to url, code, base, type, expression, target,
  component (definition + expression), multipleOr/multipleAnd;
- resource_types: every resource type of the package;
- choice_paths: element paths that are choice types (`Observation.value` -> [types]), so the
  search walker resolves `Observation.value` to `valueQuantity` etc. without FHIRPath;
- compartments: CompartmentDefinition-patient as {resource type: [param codes]}.

Usage: python scripts/build_search_params.py [package-folder]
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fhirsvc" / "search" / "data" / "search_parameters.json.gz"


def package_folder() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    sys.path.insert(0, str(ROOT / "scripts"))
    from fetch_r4core import unpack  # noqa: E402
    return unpack()


def main() -> None:
    pkg = package_folder()
    params = []
    for f in sorted(pkg.glob("SearchParameter-*.json")):
        sp = json.loads(f.read_text())
        if sp.get("resourceType") != "SearchParameter":
            continue
        item = {k: sp[k] for k in ("url", "code", "base", "type", "expression", "target",
                                   "multipleOr", "multipleAnd") if k in sp}
        if sp.get("component"):
            item["component"] = [{"definition": c["definition"], "expression": c["expression"]}
                                 for c in sp["component"]]
        params.append(item)
    resource_types = []
    choice_paths: dict[str, list[str]] = {}
    for f in sorted(pkg.glob("StructureDefinition-*.json")):
        sd = json.loads(f.read_text())
        if sd.get("derivation") != "specialization" or sd.get("abstract"):
            continue
        if sd.get("kind") == "resource":
            resource_types.append(sd["type"])
        if sd.get("kind") not in ("resource", "complex-type"):
            continue
        for el in sd.get("snapshot", {}).get("element", []):
            path = el["path"]
            if path.endswith("[x]"):
                choice_paths[path[:-3]] = [t["code"] for t in el.get("type", [])]
    comp = json.loads((pkg / "CompartmentDefinition-patient.json").read_text())
    patient = {r["code"]: r["param"] for r in comp["resource"] if r.get("param")}
    data = {"fhirVersion": "4.0.1", "params": params, "resource_types": sorted(resource_types),
            "choice_paths": choice_paths, "compartments": {"Patient": patient}}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    OUT.write_bytes(gzip.compress(raw, 9, mtime=0))
    print(f"{OUT.relative_to(ROOT)}: {len(params)} parameters, {len(resource_types)} resource "
          f"types, {len(choice_paths)} choice paths, {len(raw)} bytes raw")


if __name__ == "__main__":
    main()
