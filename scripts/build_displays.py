"""Generate the displays of the R4 core package's complete code systems, which the validator
reads (lazily) to check Coding.display: `fhirsvc/definitions/data/r4displays.json.gz`,

    {system url: {code: [display, designation value, ...]}}

Reads the unpacked hl7.fhir.r4.core 4.0.1 package (`scripts/fetch_r4core.py`, build time only).

Usage: python scripts/build_displays.py [PACKAGE_DIR]
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fhirsvc" / "definitions" / "data" / "r4displays.json.gz"


def _walk(concepts, out: dict):
    for c in concepts or ():
        code = c.get("code")
        if isinstance(code, str):
            names = [c["display"]] if isinstance(c.get("display"), str) else []
            names += [d["value"] for d in c.get("designation") or ()
                      if isinstance(d.get("value"), str) and d["value"] not in names]
            if names:
                out[code] = names
        _walk(c.get("concept"), out)


def main(argv: list[str]) -> int:
    if argv:
        pkg = Path(argv[0])
    else:
        pkg = Path(subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_r4core.py")],
                                  check=True, capture_output=True, text=True).stdout.strip())
    out: dict = {}
    for f in sorted(pkg.glob("CodeSystem-*.json")):
        cs = json.loads(f.read_text(encoding="utf-8"))
        if cs.get("content") != "complete":
            continue
        got: dict = {}
        _walk(cs.get("concept"), got)
        if got:
            out[cs["url"]] = got
    data = json.dumps(out, sort_keys=True, separators=(",", ":")).encode()
    OUT.write_bytes(gzip.compress(data, mtime=0))
    print(f"{OUT.relative_to(ROOT)}: {len(out)} code systems, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
