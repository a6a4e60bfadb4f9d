"""`python -m fhirsvc registry export|import`: the registry dataset on the command line.

    fhirsvc registry export --format redcap-records [--since INSTANT] [--group ID] [-o FILE]
    fhirsvc registry import FILE.csv          # REDCap records or the flat CSV; all or nothing
"""
from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub, common) -> None:
    p = sub.add_parser("registry", help="registry dataset: export CSV / REDCap, import CSV")
    common(p)
    p.add_argument("action", choices=["export", "import"])
    p.add_argument("file", nargs="?", help="import: the CSV file")
    p.add_argument("--format", default="csv",
                   choices=["csv", "redcap-dictionary", "redcap-records"], help="export format")
    p.add_argument("--since", help="export: only patients whose data changed after this instant")
    p.add_argument("--group", help="export: only the members of Group/ID")
    p.add_argument("-o", "--output", help="export: write here (default standard output)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .bootstrap import build
    from .cli import _config
    from .outcomes import OperationOutcomeError
    runtime = build(_config(args))
    ctx = runtime.context()
    try:
        if args.action == "export":
            lines = runtime.services.registry.export(ctx, args.format, args.since, args.group)
            target = args.file or args.output
            out = open(target, "w", encoding="utf-8", newline="") if target else sys.stdout
            try:
                for line in lines:
                    out.write(line)
            finally:
                if target:
                    out.close()
            return 0
        if not args.file:
            print("registry import: give the CSV file", file=sys.stderr)
            return 2
        result = runtime.services.registry.import_csv(ctx, Path(args.file).read_bytes())
        print(f"imported {result.records} records as {result.resources} resources "
              f"({result.provenance})")
        return 0
    except OperationOutcomeError as exc:
        for issue in exc.issues:
            where = f" [{', '.join(issue.expression)}]" if issue.expression else ""
            print(f"registry {args.action}: {issue.message}{where}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
