"""`python -m fhirsvc serve | migrate | load | validate | reindex` (also the `fhirsvc` script)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import Config


def _config(args) -> Config:
    return Config.from_env(database_url=getattr(args, "database_url", None),
                           host=getattr(args, "host", None), port=getattr(args, "port", None))


def cmd_migrate(args) -> int:
    from .storage.migrate import upgrade
    upgrade(_config(args).database_url)
    print("database is at the latest schema")
    return 0


def example_files(examples_dir: Path) -> list[Path]:
    """The valid examples: top-level *.json of examples/ (invalid/ and data files excluded)."""
    return sorted(p for p in examples_dir.glob("*.json")
                  if not p.name.startswith("search-") and not p.name.endswith(".expected.json"))


def load_files(service, paths: list[Path], base_url: str, out=sys.stdout) -> int:
    """POST each file (a transaction or batch Bundle, or one resource) through the one
    ingestion path. Returns the number of files that failed."""
    from .outcomes import OperationOutcomeError
    from .storage.errors import StorageError
    from .storage_outcomes import storage_outcome
    from .services import parse_json
    failed = 0
    for path in paths:
        try:
            body = parse_json(path.read_bytes())
            if isinstance(body, dict) and body.get("resourceType") == "Bundle" \
                    and body.get("type") in ("transaction", "batch"):
                resp = service.process_bundle(body, base_url)
                n = len(resp.get("entry", []))
                bad = [e for e in resp["entry"] if not e["response"]["status"][:1] in "23"]
                print(f"{path.name}: {n} entries, {n - len(bad)} ok", file=out)
                failed += bool(bad)
            elif isinstance(body, dict) and "resourceType" in body:
                rid = body.get("id")
                result = (service.update(body["resourceType"], rid, body) if rid
                          else service.create(body["resourceType"], body))
                print(f"{path.name}: {result.status}", file=out)
            else:
                raise ValueError("not a FHIR resource")
        except (OperationOutcomeError, StorageError) as exc:
            if isinstance(exc, StorageError):  # e.g. a conflict with a concurrent load
                exc = storage_outcome(exc)
            failed += 1
            print(f"{path.name}: FAILED ({exc.status})", file=out)
            for issue in exc.issues[:20]:
                print(f"  {issue.severity} {', '.join(issue.expression)}: {issue.message}",
                      file=out)
        except (OSError, ValueError) as exc:
            failed += 1
            print(f"{path.name}: FAILED ({exc})", file=out)
    return failed


def cmd_load(args) -> int:
    from . import build_service
    from .storage.migrate import upgrade
    config = _config(args)
    upgrade(config.database_url)
    service = build_service(config)
    if args.if_empty:
        with service.db.unit_of_work() as uow:
            if uow.resources.count(include_deleted=True):
                print("database is not empty: examples not loaded")
                return 0
    paths = [Path(p) for p in args.paths] or example_files(config.examples_dir)
    base = config.public_base_url or f"http://{config.host}:{config.port}{config.base_path}"
    failed = load_files(service, paths, base)
    service.db.dispose()
    return 1 if failed else 0


def cmd_serve(args) -> int:
    from . import create_app
    from .storage.migrate import upgrade
    config = _config(args)
    upgrade(config.database_url)
    if not args.no_examples:
        args.paths, args.if_empty = [], True
        cmd_load(args)
    app = create_app(config)
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{config.host}:{config.port}")
            self.cfg.set("workers", args.workers or config.workers)
            self.cfg.set("threads", config.threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 300)

        def load(self):
            return app

    print(f"serving FHIR R4 at http://{config.host}:{config.port}{config.base_path}",
          flush=True)
    Server().run()
    return 0


def cmd_reindex(args) -> int:
    from . import build_service
    service = build_service(_config(args))
    from .search import reindex
    count = reindex(service.db, service.search_engine.registry)
    print(f"reindexed {count} resources")
    return 0


def cmd_validate(args, rest: list[str]) -> int:
    from . import validate_cli
    return validate_cli.main(rest)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["validate"]:
        return cmd_validate(None, argv[1:])
    parser = argparse.ArgumentParser(prog="fhirsvc", description="FHIR R4 service for "
                                     "calcinosis in systemic sclerosis")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, server=False):
        p.add_argument("--database-url", help="sqlite:///path or "
                       "postgresql+psycopg://user@host:port/db (FHIRSVC_DATABASE_URL)")
        if server:
            p.add_argument("--host", help="bind address (FHIRSVC_HOST, default 127.0.0.1)")
            p.add_argument("--port", type=int, help="port (FHIRSVC_PORT, default 8080)")

    p = sub.add_parser("serve", help="migrate, load the examples into an empty database, serve")
    common(p, server=True)
    p.add_argument("--workers", type=int, help="gunicorn worker processes")
    p.add_argument("--no-examples", action="store_true", help="do not load examples/")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("migrate", help="apply database migrations")
    common(p)
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("load", help="load Bundles / resources (default: examples/)")
    common(p, server=True)
    p.add_argument("paths", nargs="*")
    p.add_argument("--if-empty", action="store_true", help="only when the database is empty")
    p.set_defaults(func=cmd_load)
    p = sub.add_parser("reindex", help="rebuild all search index rows")
    common(p)
    p.set_defaults(func=cmd_reindex)
    sub.add_parser("validate", help="validate files: fhirsvc validate --help")
    args = parser.parse_args(argv)
    return args.func(args)
