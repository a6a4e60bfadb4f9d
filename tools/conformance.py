"""Conformance run: the HL7 validator test cases and the official R4 examples.

    python -m tools.conformance [--shared PATH] [--verbose] [--set original|extended|all]
                                [--no-examples] [--case NAME ...]

Reads ../shared/conformance (relative to the repository root) at run time: nothing is copied
into the repository. For each case of `fhir-test-cases/index.json` (the 43 the validator was
built with) and `index-extended.json` (cases it was not tuned on), validates the instance the
way the reference (Java) validator run did (supporting files loaded, meta.profile applied, then
the profile step when there is one) and compares the verdict (any error or fatal issue) and the
exact error count with the expected outcome. Then validates every official R4 example and
reports the share with no error. Exit status 1 when a target of TARGETS is missed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "conformance"

# What CI requires (issue 15). `verdicts`/`counts` are shares of the validations of a set.
# The issue's targets for the extended set, verdicts 0.95 and exact counts 0.85, are reached
# (175/182 and 161/182; the cases still missed are listed in bench/RESULTS.md, issue 15,
# most of them needing a terminology server), so CI requires them.
TARGETS = {
    "original": {"verdicts": 1.0, "counts": 0.0},
    "extended": {"verdicts": 0.95, "counts": 0.85},
    "examples": 0.995,
}
SETS = {"original": "index.json", "extended": "index-extended.json"}


def _errors(issues) -> list:
    return [i for i in issues if i.severity in ("error", "fatal")]


def _profile_url(path: Path, state) -> str:
    from fhirsvc.definitions.registry import read_resource_file
    return read_resource_file(path, state)["url"]


def _load(reg, path: Path) -> None:
    """Supporting files as the reference loads them: a definition whose snapshot cannot be
    generated is kept (its failure is reported where it is used), not a load failure."""
    from fhirsvc.definitions.registry import DefinitionsError, read_resource_file
    try:
        reg.load_path(path)
    except DefinitionsError:
        reg.add(read_resource_file(path, reg.state))


# settings of a test case (manifest entry) -> Validator keyword arguments
_OPTIONS = {"validateContains": "validate_contains", "validateReference": "validate_reference"}


def _options(manifest: dict) -> dict:
    return {kw: manifest[name] for name, kw in _OPTIONS.items() if manifest.get(name)}


def run_cases(shared: Path, index_name: str, verbose: bool,
              only: set[str] | None = None) -> tuple[int, int, int, list[str]]:
    from fhirsvc.definitions.registry import Registry
    from fhirsvc.validation import Validator

    base_dir = shared / "fhir-test-cases"
    index = json.loads((base_dir / index_name).read_text(encoding="utf-8"))
    core = Registry()
    verdict_ok = count_ok = total = 0
    lines = []
    for case in index["cases"]:
        if only and case["name"] not in only:
            continue
        steps = []
        eb = case.get("expected_base") or {}
        if eb.get("errorCount") is not None:
            steps.append(("base", None, eb))
        prof = case.get("profile")
        if prof:
            steps.append(("profile", prof, prof.get("expected") or {}))
        for step, prof, expected in steps:
            want = expected.get("errorCount")
            try:
                # a fresh registry view per case: supporting files must not leak between cases
                reg = core.fork()
                for sup in case.get("supporting") or ():
                    _load(reg, base_dir / sup)
                profiles = []
                if prof:
                    for sup in prof.get("supporting") or ():
                        _load(reg, base_dir / sup)
                    _load(reg, base_dir / prof["source"])
                    profiles.append(_profile_url(base_dir / prof["source"], reg.state))
                # the settings the reference run was given, where the validator has them
                manifest = case.get("manifest_entry") or {}
                v = Validator(registry=reg, **_options(manifest))
                raw = (base_dir / case["file"]).read_bytes()
                issues = v.validate_bytes(raw, profiles, allow_comments=bool(
                    manifest.get("allow-comments")))
            except Exception as exc:  # a crash is a wrong answer, not the end of the run
                issues = []
                lines.append(f"  CRASH {case['name']} [{step}]: {exc!r}")
                got = -1
            else:
                got = len(_errors(issues))
            total += 1
            vok = got >= 0 and (got > 0) == (want > 0)
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


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100.0 * a / b:.1f}%)" if b else "0/0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.conformance", description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(DEFAULT_SHARED), help="the shared conformance folder")
    ap.add_argument("--verbose", "-v", action="store_true", help="show the issues of disagreements")
    ap.add_argument("--set", choices=("original", "extended", "all"), default="all",
                    help="which case sets to run (targets apply to the sets run)")
    ap.add_argument("--no-examples", action="store_true", help="skip the official R4 examples")
    ap.add_argument("--case", action="append", default=[], metavar="NAME",
                    help="run only the cases of this name (repeatable; targets still apply)")
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    if not (shared / "fhir-test-cases" / "index.json").is_file():
        print(f"conformance material not found under {shared}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    ok = True
    summary = []
    for name, index_name in SETS.items():
        if args.set not in ("all", name):
            continue
        if not (shared / "fhir-test-cases" / index_name).is_file():
            print(f"{index_name} not found: set {name} skipped", file=sys.stderr)
            continue
        total, vok, cok, lines = run_cases(shared, index_name, args.verbose,
                                           set(args.case) or None)
        if not total:
            continue
        print(f"fhir-test-cases, {name} set ({index_name}, {total} validations):")
        print("\n".join(lines))
        target = TARGETS[name]
        met = vok >= target["verdicts"] * total and cok >= target["counts"] * total
        ok &= met
        summary.append(f"{name:<9} verdicts {_pct(vok, total):<18} exact counts {_pct(cok, total):<18}"
                       f" targets {target['verdicts']:.0%}/{target['counts']:.0%}"
                       f" {'met' if met else 'MISSED'}")
    if not args.no_examples:
        n, clean, ex_lines = run_examples(shared, args.verbose)
        print(f"\nofficial R4 examples: {_pct(clean, n)} with no error")
        if ex_lines:
            print("\n".join(ex_lines))
        met = clean >= TARGETS["examples"] * n
        ok &= met
        summary.append(f"examples  no error {_pct(clean, n)} target {TARGETS['examples']:.1%}"
                       f" {'met' if met else 'MISSED'}")
    print("\n" + "\n".join(summary))
    print(f"({time.perf_counter() - t0:.1f} s)")
    print("TARGETS MET" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
