"""Conformance run: the HL7 validator test cases and the official R4 examples.

    python -m tools.conformance [--shared PATH] [--verbose]

Reads ../shared/conformance (relative to the repository root) at run time: nothing is copied
into the repository. For each of the fhir-test-cases, validates the instance the way the
reference (Java) validator run did (supporting files loaded, meta.profile applied, then
the profile step when there is one) and compares the verdict (any error or fatal issue) and the
exact error count with the expected outcome. Then validates every official R4 example and
reports the share with no error. Exit status 1 when a target is missed: every verdict right,
at least 99% of the official examples without error.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "conformance"
EXAMPLES_TARGET = 0.99


def _errors(issues) -> list:
    return [i for i in issues if i.severity in ("error", "fatal")]


def run_cases(shared: Path, verbose: bool) -> tuple[int, int, int, list[str]]:
    from fhirsvc.definitions.registry import Registry
    from fhirsvc.validation import Validator

    base_dir = shared / "fhir-test-cases"
    index = json.loads((base_dir / "index.json").read_text(encoding="utf-8"))
    core = Registry()
    verdict_ok = count_ok = total = 0
    lines = []
    for case in index["cases"]:
        steps = []
        eb = case.get("expected_base") or {}
        if eb.get("errorCount") is not None:
            steps.append(("base", None, eb))
        prof = case.get("profile")
        if prof:
            steps.append(("profile", prof, prof.get("expected") or {}))
        for step, prof, expected in steps:
            # a fresh registry view per case: supporting files must not leak between cases
            reg = core.fork()
            for sup in case.get("supporting") or ():
                reg.load_path(base_dir / sup)
            profiles = []
            if prof:
                for sup in prof.get("supporting") or ():
                    reg.load_path(base_dir / sup)
                reg.load_path(base_dir / prof["source"])
                sd = json.loads((base_dir / prof["source"]).read_text(encoding="utf-8"))
                profiles.append(sd["url"])
            v = Validator(registry=reg)
            raw = (base_dir / case["file"]).read_bytes()
            try:
                issues = v.validate_bytes(raw, profiles)
            except Exception as exc:  # a crash is a wrong answer, not the end of the run
                issues = []
                lines.append(f"  CRASH {case['name']} [{step}]: {exc!r}")
            got = len(_errors(issues))
            want = expected.get("errorCount")
            total += 1
            vok = (got > 0) == (want > 0)
            cok = got == want
            verdict_ok += vok
            count_ok += cok
            mark = "ok " if vok and cok else ("~  " if vok else "BAD")
            lines.append(f"  {mark} {case['name']:<40} [{step:<7}] expected {want} errors, got {got}")
            if verbose and not (vok and cok):
                for i in _errors(issues):
                    lines.append(f"        got: {i.expression} {i.message[:110]}")
                for e in expected.get("errors") or ():
                    lines.append(f"       want: {e.get('expression')} {e.get('text', '')[:110]}")
    return total, verdict_ok, count_ok, lines


def run_examples(shared: Path, verbose: bool) -> tuple[int, int, list[str]]:
    from fhirsvc.validation import Validator
    v = Validator()
    files = sorted((shared / "r4-examples").glob("*.json"))
    clean = 0
    lines = []
    for f in files:
        issues = v.validate_bytes(f.read_bytes())
        errs = _errors(issues)
        if not errs:
            clean += 1
        else:
            lines.append(f"  {f.name}: {len(errs)} errors")
            if verbose:
                for i in errs[:5]:
                    lines.append(f"        {i.expression} {i.message[:120]}")
    return len(files), clean, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.conformance", description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(DEFAULT_SHARED), help="the shared conformance folder")
    ap.add_argument("--verbose", "-v", action="store_true", help="show the issues of disagreements")
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    if not (shared / "fhir-test-cases" / "index.json").is_file():
        print(f"conformance material not found under {shared}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    total, vok, cok, lines = run_cases(shared, args.verbose)
    print(f"fhir-test-cases ({total} validations of {len(json.loads((shared / 'fhir-test-cases' / 'index.json').read_text())['cases'])} cases):")
    print("\n".join(lines))
    print(f"verdict agreement with the reference validator: {vok}/{total}")
    print(f"exact error-count agreement:                   {cok}/{total}")
    n, clean, ex_lines = run_examples(shared, args.verbose)
    print(f"\nofficial R4 examples: {clean}/{n} with no error ({100.0 * clean / n:.1f}%)")
    if ex_lines:
        print("\n".join(ex_lines))
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    ok = vok == total and clean >= EXAMPLES_TARGET * n
    print("TARGETS MET" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
