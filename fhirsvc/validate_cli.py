"""`python -m fhirsvc validate [--ig PATH]... [--profile URL]... [--output json] FILE...`

Validates several files in one run. With --output json: one line per input file,
{"file": "<path as given>", "outcome": <OperationOutcome>}; otherwise a readable report.
Exit status 0 when no file has an error or fatal issue, 1 otherwise, 2 on usage errors and
when the guide or an --ig package cannot be loaded (the message names the file).

Hook: `add_parser(subparsers)` + `main(args)`; standalone: `python -m fhirsvc.validate_cli`.
"""
from __future__ import annotations

import argparse
import sys


def _configure(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="resources to validate (FHIR JSON or FHIR XML)")
    p.add_argument("--ig", action="append", default=[], metavar="PATH",
                   help="conformance resources: a JSON or XML file, a folder or an NPM package "
                        ".tgz (repeatable)")
    p.add_argument("--profile", action="append", default=[], metavar="URL",
                   help="validate against this profile too (repeatable)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument("--strict", action="store_true",
                   help="unknown profiles are errors; the guide's profiles are mandatory")
    p.add_argument("--allow-comments", action="store_true",
                   help="accept // and /* */ comments in JSON input (by default each is an error)")
    p.add_argument("--allow-unknown-extensions", action="store_true",
                   help="an extension whose definition is unknown is a warning (by default an "
                        "error, as the HL7 reference validator)")
    p.add_argument("--validate-contains", choices=("CHECK_VALID", "IGNORE"),
                   help="contained resources: validated and required to be referenced "
                        "(CHECK_VALID, the default) or skipped (IGNORE)")
    p.add_argument("--validate-reference",
                   choices=("IGNORE", "CHECK_EXISTS", "CHECK_EXISTS_AND_TYPE"),
                   help="relative references must resolve inside the resource, bundle or "
                        "Parameters (CHECK_EXISTS...); by default (IGNORE) only form and "
                        "type are checked")
    return p


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("validate", help="validate FHIR resources (R4 + profiles)",
                              description=__doc__.splitlines()[0])
    _configure(p)
    p.set_defaults(func=main)
    return p


def _report(path: str, issues) -> str:
    errors = sum(1 for i in issues if i.severity in ("error", "fatal"))
    warnings = sum(1 for i in issues if i.severity == "warning")
    head = f"{'FAIL' if errors else 'OK  '} {path}: {errors} error(s), {warnings} warning(s)"
    lines = [head]
    for i in issues:
        where = ", ".join(i.expression) if i.expression else "-"
        lines.append(f"  {i.severity:<11} {where}: {i.message}")
    return "\n".join(lines)


def main(args) -> int:
    if isinstance(args, (list, tuple)) or args is None:
        parser = _configure(argparse.ArgumentParser(prog="python -m fhirsvc validate"))
        try:
            args = parser.parse_args(args)
        except SystemExit as exc:
            return int(exc.code or 0) and 2
    import orjson

    from .definitions.registry import DefinitionsError, Registry, default_registry
    from .outcomes import operation_outcome
    from .validation import Validator

    try:
        if args.ig:
            registry = Registry()
            registry.load_guide()
            for path in args.ig:
                registry.load_path(path)
        else:
            registry = default_registry()
    except DefinitionsError as exc:
        print(f"cannot load the definitions: {exc}", file=sys.stderr)
        return 2
    validator = Validator(registry=registry, unknown_extensions="warning" if getattr(
        args, "allow_unknown_extensions", False) else "error",
        validate_contains=getattr(args, "validate_contains", None) or "CHECK_VALID",
        validate_reference=getattr(args, "validate_reference", None) or "IGNORE")
    strict = getattr(args, "strict", False)
    failed = False
    out = sys.stdout
    for path in args.files:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            from .outcomes import Issue
            issues = [Issue("fatal", "not-found", f"Cannot read {path}: {exc.strerror}")]
        else:
            issues = validator.validate_bytes(raw, args.profile, strict=strict,
                                              allow_comments=getattr(args, "allow_comments",
                                                                     False))
        if any(i.severity in ("error", "fatal") for i in issues):
            failed = True
        if args.output == "json":
            line = {"file": path, "outcome": operation_outcome(
                issues, "No issues detected during validation")}
            out.write(orjson.dumps(line).decode() + "\n")
        else:
            out.write(_report(path, issues) + "\n")
    out.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
