"""The validate page per input format: POST /ui/validate (Flask test client, SQLite, nothing
stored) with case A's transaction Bundle as FHIR JSON and as FHIR XML, and case A's lab
message as HL7 v2, interleaved round by round; plus the cost of one password check at login
(scrypt). Prints the median milliseconds per request and the XML / JSON ratio.

    python bench/bench_ui_validate.py [--rounds 15] [--formats json,xml,hl7v2] [--root DIR]

A baseline: --root OTHER_CHECKOUT --formats json (main has no XML or HL7 v2 on the page).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--root" in sys.argv:   # another checkout's code and examples (a baseline)
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--formats", default="json,xml,hl7v2")
    ap.add_argument("--root", help="the checkout to measure (default: this one)")
    args = ap.parse_args()
    from fhirsvc import create_app
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    from fhirsvc.xml import json_to_xml
    tmp = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    url = f"sqlite:///{tmp / 'b.db'}"
    upgrade(url)
    app = create_app(Config(database_url=url, examples_dir=tmp))
    web = app.test_client()
    bundle = (ROOT / "examples" / "case-a.json").read_text()
    inputs = {"json": bundle, "xml": json_to_xml(bundle, pretty=True).decode(),
              "hl7v2": (ROOT / "examples" / "hl7v2" / "case-a-labs.oru-r01.hl7").read_text()}
    formats = args.formats.split(",")
    times: dict[str, list[float]] = {f: [] for f in formats}
    for f in formats:   # warm-up: definitions, templates, mappings
        r = web.post("/ui/validate", data={"resource": inputs[f], "format": f})
        assert r.status_code == 200 and b"Result" in r.data, (f, r.status_code)
    for _ in range(args.rounds):
        for f in formats:
            t = time.perf_counter()
            web.post("/ui/validate", data={"resource": inputs[f], "format": f})
            times[f].append((time.perf_counter() - t) * 1000)
    for f in formats:
        print(f"{f:6s} median {statistics.median(times[f]):8.1f} ms  "
              f"(min {min(times[f]):.1f}, max {max(times[f]):.1f}; input {len(inputs[f]):,} chars)")
    if "json" in times and "xml" in times:
        ratios = sorted(x / j for x, j in zip(times["xml"], times["json"]))
        print(f"xml/json per round: median {statistics.median(ratios):.2f} "
              f"({ratios[0]:.2f}-{ratios[-1]:.2f})")
    try:
        from fhirsvc.security.users import hash_password, verify_password
    except ImportError:
        return 0
    stored = hash_password("a long passphrase")
    checks = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        verify_password("a long passphrase", stored)
        checks.append((time.perf_counter() - t) * 1000)
    print(f"scrypt password check: median {statistics.median(checks):.1f} ms "
          f"(min {min(checks):.1f}, max {max(checks):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
