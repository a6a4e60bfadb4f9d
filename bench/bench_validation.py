"""Validation rate beside the baseline (bare fhir.resources R4B parsing of the same bytes).

    .venv/bin/python bench/bench_validation.py [--seconds N] [--shared PATH]

1. A typical profiled Observation: heart rate claiming the core vital-signs profile (the
   heart-rate profile is applied implicitly from its LOINC code, as the reference validator
   does). Validation = JSON parse + full profile-aware validation, one process.
2. The Synthea transaction bundles of ../shared/conformance/synthea (whole bundles).
3. CLI start-up: `python -m fhirsvc.validate_cli` on one file, wall time and the child's CPU
   time (user + system; load-independent enough on a shared machine), best of 3.
4. Through the CLI (`--cli N`, issue 15): N heart-rate Observation files (ids and values
   varied) validated by one CLI run in this process (`validate_cli.main`, every rule on,
   report written to /dev/null), interleaved with the baseline reading and parsing the same
   files with fhir.resources; medians of 7 rounds of process CPU time.
Cases 1 and 2 alternate fhirsvc and the baseline in 5 rounds (ratio: the median of the
rounds' ratios). Each figure is printed with the baseline of the same run and the ratio.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEART_RATE = b"""{
  "resourceType": "Observation",
  "id": "heart-rate-1",
  "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs"}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}],
           "text": "Heart rate"},
  "subject": {"reference": "Patient/example"},
  "effectiveDateTime": "2024-03-02T09:30:10+01:00",
  "performer": [{"reference": "Practitioner/example"}],
  "valueQuantity": {"value": 44, "unit": "beats/minute", "system": "http://unitsofmeasure.org",
                    "code": "/min"}
}"""


def paired(ours, bare, payloads, seconds: float, rounds: int = 5):
    """(ours/s, bare/s, ratio): medians over rounds that alternate the two."""
    a, b, r = [], [], []
    for _ in range(rounds):
        x = rate(ours, payloads, seconds / rounds)
        y = rate(bare, payloads, seconds / rounds)
        a.append(x)
        b.append(y)
        r.append(x / y)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return med(a), med(b), med(r)


def rate(fn, payloads, seconds: float) -> float:
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for p in payloads:
            fn(p)
        n += len(payloads)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "conformance"))
    ap.add_argument("--cli", type=int, default=2000, metavar="N",
                    help="heart-rate files for the through-the-CLI case (0: skip it)")
    args = ap.parse_args(argv)

    import orjson
    from fhir.resources.R4B import get_fhir_model_class

    from fhirsvc.validation import Validator

    validator = Validator()

    def bare(raw: bytes):
        data = orjson.loads(raw)
        get_fhir_model_class(data["resourceType"]).model_validate(data)

    def ours(raw: bytes):
        issues = validator.validate_bytes(raw)
        assert not any(i.is_error for i in issues), issues

    ours(HEART_RATE)
    bare(HEART_RATE)
    print(f"{'case':<34} {'fhirsvc/s':>10} {'bare parse/s':>13} {'ratio':>6}")
    r_ours, r_bare, ratio = paired(ours, bare, [HEART_RATE], args.seconds)
    print(f"{'heart-rate Observation (profiled)':<34} {r_ours:>10.0f} {r_bare:>13.0f} "
          f"{ratio:>6.2f}")

    synthea = sorted((Path(args.shared) / "synthea").glob("*.json"))
    if synthea:
        payloads = [f.read_bytes() for f in synthea]
        n_res = sum(len(orjson.loads(p).get("entry", [])) for p in payloads)

        def ours_b(raw):
            validator.validate_bytes(raw)

        for p in payloads:
            ours_b(p)
            bare(p)
        r_ours, r_bare, ratio = paired(ours_b, bare, payloads, args.seconds)
        per = n_res / len(payloads)
        print(f"{'Synthea bundles (bundles/s)':<34} {r_ours:>10.2f} {r_bare:>13.2f} "
              f"{ratio:>6.2f}")
        print(f"{'Synthea (resources/s)':<34} {r_ours * per:>10.0f} {r_bare * per:>13.0f} "
              f"{ratio:>6.2f}")

    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as fh:
        fh.write(HEART_RATE)
        path = fh.name
    import resource

    best = best_cpu = None
    for _ in range(3):
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fhirsvc.validate_cli", path], cwd=ROOT,
                       capture_output=True, check=False)
        el = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        best = el if best is None else min(best, el)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    Path(path).unlink()
    print(f"{'CLI start-up + 1 file (s)':<34} {best:>10.3f}")
    print(f"{'CLI start-up + 1 file (s cpu)':<34} {best_cpu:>10.3f}")
    if args.cli:
        cli_case(args.cli, bare)
    return 0


def cli_case(n: int, bare) -> None:
    import os

    import orjson

    from fhirsvc import validate_cli

    with tempfile.TemporaryDirectory() as tmp:
        base = orjson.loads(HEART_RATE)
        files = []
        for i in range(n):
            base["id"] = f"hr-{i}"
            base["valueQuantity"]["value"] = 40 + i % 100
            f = Path(tmp) / f"hr-{i}.json"
            f.write_bytes(orjson.dumps(base))
            files.append(str(f))

        def ours():
            old = sys.stdout
            with open(os.devnull, "w") as sink:
                sys.stdout = sink
                try:
                    assert validate_cli.main(files) == 0
                finally:
                    sys.stdout = old

        def baseline():
            for f in files:
                with open(f, "rb") as fh:
                    bare(fh.read())

        ours()
        baseline()
        a, b = [], []
        for _ in range(7):
            t = time.process_time()
            ours()
            a.append(time.process_time() - t)
            t = time.process_time()
            baseline()
            b.append(time.process_time() - t)
        a.sort()
        b.sort()
        r_ours, r_bare = n / a[3], n / b[3]
        print(f"{f'CLI, {n} heart-rate files (/s cpu)':<34} {r_ours:>10.0f} {r_bare:>13.0f} "
              f"{r_ours / r_bare:>6.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
