"""Validation alone, CPU per resource, as the HTTP ingest meets it: the Synthea bundles decoded
as the API decodes them, validated by the server's validator (unknown extensions as warnings).
Each round clears the kept verdicts, validates the six bundles that sort first (definitions
compiled, kept verdicts filled by other patients) and times the other six (new values).

    python bench/validation_cpu.py [--rounds N] [--shared PATH]

Run it from each checkout to compare (it uses only Validator, Definitions and wire.decode_json);
prints the best and the median round, CPU time of this process (time.process_time)."""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "conformance"))
    args = ap.parse_args(argv)
    from fhirsvc.validation import Validator
    from fhirsvc.validation.definitions import Definitions
    from fhirsvc.wire import decode_json

    bodies = [f.read_bytes() for f in sorted((Path(args.shared) / "synthea").glob("*.json"))]
    bodies.sort(key=lambda b: 0 if b'"Patient"' not in b[:5000] else 1)  # organisations first
    docs = [decode_json(b) for b in bodies]
    warm, measured = docs[:6], docs[6:]
    n = sum(len(d.get("entry") or ()) for d in measured)
    v = Validator(unknown_extensions="warning")
    for d in docs:
        v.validate(d)  # compiles what the bundles need
    gc.collect()
    gc.freeze()
    times = []
    for _ in range(args.rounds):
        state = v.registry.state
        Definitions.of(state)._kept.clear()
        for d in warm:
            v.validate(d)
        c = time.process_time()
        for d in measured:
            v.validate(d)
        times.append(time.process_time() - c)
    times.sort()
    best, med = times[0], times[len(times) // 2]
    print(f"validation of {n} resources (6 bundles): best {best * 1e3:.1f} ms "
          f"({best / n * 1e6:.0f} us/resource), median {med * 1e3:.1f} ms "
          f"({med / n * 1e6:.0f} us/resource) over {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
