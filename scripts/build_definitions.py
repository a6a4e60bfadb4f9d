"""Generate the compact R4 definitions file the validator loads at run time.

Reads the official hl7.fhir.r4.core 4.0.1 package (unpacked at build time by
`scripts/fetch_r4core.py`, never a run-time dependency) and writes
`fhirsvc/definitions/data/r4core.json.gz`:

    {"fhirVersion": "4.0.1",
     "sd": {url: compact StructureDefinition (snapshot elements only, the fields validation
            and snapshot generation need)},
     "cs": {url: {"codes": [...], "caseSensitive": bool}}     complete code systems,
     "vs": {url: {"codes": {system: [code...]}, "open": [system...]}}   expansions of the
            value sets that the core definitions bind (open = systems we cannot enumerate
            offline, e.g. SNOMED CT, LOINC, UCUM)}

Usage: python scripts/build_definitions.py [PACKAGE_DIR]
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fhirsvc" / "definitions" / "data" / "r4core.json.gz"

sys.path.insert(0, str(ROOT))
from fhirsvc.definitions.compact import compact_sd  # noqa: E402
from fhirsvc.definitions.terminology import compact_cs, expand_valueset  # noqa: E402


def package_dir(argv: list[str]) -> Path:
    if argv:
        return Path(argv[0])
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_r4core.py")],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


def main(argv: list[str]) -> int:
    pkg = package_dir(argv)
    sds, css, vss = {}, {}, {}
    for f in sorted(pkg.glob("StructureDefinition-*.json")):
        sd = json.loads(f.read_text(encoding="utf-8"))
        sds[sd["url"]] = compact_sd(sd)
    for f in sorted(pkg.glob("CodeSystem-*.json")):
        cs = json.loads(f.read_text(encoding="utf-8"))
        if cs.get("content") == "complete":
            css[cs["url"]] = compact_cs(cs)
    for f in sorted(pkg.glob("ValueSet-*.json")):
        vs = json.loads(f.read_text(encoding="utf-8"))
        vss[vs["url"]] = vs
    # Expand every value set bound (any strength that the validator checks) by the core
    # definitions, plus the ones they import.
    bound: set[str] = set()
    for sd in sds.values():
        for el in sd["elements"] or ():
            b = el.get("binding")
            if b and b.get("valueSet") and b.get("strength") in ("required", "extensible"):
                bound.add(b["valueSet"].split("|")[0])
    expansions = {}
    for url in sorted(bound):
        exp = expand_valueset(url, vss, css)
        if exp is not None:
            expansions[url] = exp
    data = {
        "fhirVersion": "4.0.1",
        "sd": sds,
        "cs": css,
        "vs": expansions,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    # mtime=0 keeps the output byte-identical between runs.
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"{OUT.relative_to(ROOT)}: {len(sds)} StructureDefinitions, {len(css)} CodeSystems, "
          f"{len(expansions)} ValueSet expansions, {len(raw) // 1024} KiB raw, "
          f"{OUT.stat().st_size // 1024} KiB gzip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
