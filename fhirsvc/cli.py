"""`python -m fhirsvc serve | migrate | load | validate | reindex | worker | jobs | endpoints |
pull | push` (also the `fhirsvc` script)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
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


def load_files(runtime, paths: list[Path], out=sys.stdout) -> int:
    """Send each file (a transaction or batch Bundle, or one resource) through the one
    ingestion pipeline. Returns the number of files that failed."""
    from .outcomes import OperationOutcomeError
    from .storage.errors import StorageError
    from .storage_outcomes import storage_outcome
    from .wire import parse_json
    resources = runtime.services.resources
    ctx = runtime.context()
    failed = 0
    for path in paths:
        try:
            body = parse_json(path.read_bytes())
            if isinstance(body, dict) and body.get("resourceType") == "Bundle" \
                    and body.get("type") in ("transaction", "batch"):
                resp = resources.bundle(ctx, body)
                n = len(resp.get("entry", []))
                bad = [e for e in resp["entry"] if not e["response"]["status"][:1] in "23"]
                print(f"{path.name}: {n} entries, {n - len(bad)} ok", file=out)
                failed += bool(bad)
            elif isinstance(body, dict) and "resourceType" in body:
                rid = body.get("id")
                result = (resources.update(ctx, body["resourceType"], rid, body) if rid
                          else resources.create(ctx, body["resourceType"], body))
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


def _bulk_items(paths: list[Path]):
    """(type, id, resource) of NDJSON files (one resource a line, as Bulk Data exports them)
    and of Bundles' entries; every resource needs a resourceType and an id."""
    from .wire import check_id, check_type, parse_json
    for path in paths:
        raw = path.read_bytes()
        if path.suffix == ".ndjson":
            docs = (parse_json(line, f"{path.name}:{n}")
                    for n, line in enumerate(raw.splitlines(), 1) if line.strip())
        else:
            body = parse_json(raw, path.name)
            docs = ([e.get("resource") for e in body.get("entry", [])]
                    if isinstance(body, dict) and body.get("resourceType") == "Bundle"
                    and body.get("type") in ("transaction", "batch", "collection")
                    else [body])
        for res in docs:
            if not isinstance(res, dict):
                raise ValueError(f"{path.name}: not a FHIR resource")
            yield (check_type(res.get("resourceType"), path.name),
                   check_id(res.get("id"), path.name), res)


def bulk_load_files(runtime, paths: list[Path], batch: int, out=None) -> int:
    """`load --bulk`: new resources straight into storage (storage.bulk_load), no validation
    and no reference resolution: for data that is valid already (an export of a FHIR server,
    a benchmark set). On an empty database the search indexes are built after the load."""
    from .outcomes import OperationOutcomeError
    from .storage.bulk_load import BulkLoader
    from .storage.errors import StorageError
    out = out or sys.stdout   # looked up per call (a test's captured stdout)
    if not paths:
        print("load --bulk needs NDJSON or Bundle files", file=out)
        return 2

    def progress(n):
        print(f"  {n} resources", file=out, flush=True)
    try:
        result = BulkLoader(runtime.db, batch=batch, progress=progress).load(_bulk_items(paths))
    except (OperationOutcomeError, StorageError, OSError, ValueError) as exc:
        issues = getattr(exc, "issues", None)
        print(f"FAILED: {'; '.join(i.message for i in issues) if issues else exc}", file=out)
        return 1
    print(f"{result.loaded} resources in {result.seconds:.1f} s ({result.per_second:.0f}/s; "
          f"indexes built after: {result.deferred_indexes})", file=out)
    return 0


def cmd_load(args) -> int:
    from .bootstrap import build
    from .storage.migrate import upgrade
    config = _config(args)
    upgrade(config.database_url)
    runtime = build(config)
    try:
        if args.bulk:
            return bulk_load_files(runtime, [Path(p) for p in args.paths], args.batch)
        if args.if_empty:
            with runtime.db.unit_of_work() as uow:
                if uow.resources.count(include_deleted=True):
                    print("database is not empty: examples not loaded")
                    return 0
        paths = [Path(p) for p in args.paths] or example_files(config.examples_dir)
        return 1 if load_files(runtime, paths) else 0
    finally:
        runtime.close()


def cmd_serve(args) -> int:
    from . import create_app
    from .security import check_mode
    from .storage.migrate import upgrade
    config = _config(args)
    try:
        check_mode(config)
    except ValueError as exc:
        print(f"fhirsvc serve: {exc}", file=sys.stderr)
        return 2
    from .serving import port_in_use
    busy = port_in_use(config.host, config.port)
    if busy:
        # fail before migrating or loading anything (gunicorn would retry for seconds, then
        # exit with a traceback)
        print(f"fhirsvc: cannot listen on {config.host}:{config.port}: {busy}. Stop what is "
              "using it or choose another port (FHIRSVC_PORT or --port).", file=sys.stderr)
        return 2
    # The MLLP listener is part of the service: a busy MLLP port stops serve the same way
    # (HTTP never runs half-started, silently losing the HL7 feed); FHIRSVC_MLLP_PORT=0
    # serves HTTP alone on purpose.
    busy = port_in_use(config.mllp_host, config.mllp_port) if config.mllp_port else None
    if busy:
        print(mllp_busy_message(config.mllp_host, config.mllp_port, busy, serve=True),
              file=sys.stderr)
        return 2
    upgrade(config.database_url)
    if not args.no_examples and config.load_examples:
        args.paths, args.if_empty, args.bulk = [], True, False
        cmd_load(args)
    app = create_app(config)
    if config.warm:  # compiled once here, shared by the workers copy-on-write (warm.py)
        from .warm import warm
        warm(app.extensions["fhirsvc.runtime"])
    # The loaded definitions live as long as the process: move them out of the collector's
    # generations, so full collections stop walking them (they took 100+ ms each).
    import gc
    gc.collect()
    gc.freeze()
    from gunicorn.app.base import BaseApplication

    from .serving import HEADERS, Abandonment, BodyDeadline, install_error_pages
    from .storage.dialect import cancel_statements
    install_error_pages()
    served = BodyDeadline(app, config.request_body_timeout)
    if config.cancel_abandoned:   # a client that hangs up cancels its database work
        served = Abandonment(served, cancel_statements)
    HEADERS.timeout = config.request_header_timeout   # slow heads: 408 (serving.py)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{config.host}:{config.port}")
            self.cfg.set("workers", args.workers or config.workers)
            self.cfg.set("threads", config.threads)
            self.cfg.set("worker_class", "fhirsvc.serving.HeaderDeadlineWorker")  # gthread
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", 300)
            # long FHIR search URLs: gunicorn's largest request line (longer: a 414 outcome)
            self.cfg.set("limit_request_line", 8190)
            if config.control_socket:
                self.cfg.set("control_socket", config.control_socket)
            else:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return served

    worker = start_worker(config) if config.worker and not args.no_worker else None
    mllp = start_mllp(config) if config.mllp_port else None
    failed = _watch_mllp(mllp) if mllp is not None else threading.Event()
    print(f"serving FHIR R4 at http://{config.host}:{config.port}{config.base_path}",
          flush=True)
    try:
        Server().run()
    except SystemExit:
        if not failed.is_set():
            raise
    finally:
        stop_worker(worker)
        stop_worker(mllp, grace=5)
    return 2 if failed.is_set() else 0


# -- background jobs ---------------------------------------------------------------------------

def start_worker(config) -> subprocess.Popen:
    """A job worker process beside the web server (FHIRSVC_WORKER=off: none; then run
    `fhirsvc worker` elsewhere). It stops with the server, or by itself if the server dies."""
    env = dict(os.environ, FHIRSVC_DATABASE_URL=config.database_url)  # not on the command line
    return subprocess.Popen([sys.executable, "-m", "fhirsvc", "worker",
                             "--exit-with-parent", str(os.getpid())], env=env)


def stop_worker(proc: subprocess.Popen | None, grace: float = 30) -> None:
    """SIGTERM: the running job goes back to the queue at its next checkpoint."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:  # its job is taken over once its heartbeat expires
        proc.kill()
        proc.wait()


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _stop_on_signals(worker) -> None:
    def handler(signum, _frame):
        logging.getLogger("fhirsvc.jobs").info("signal %d: stopping", signum)
        worker.stop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _exit_with_parent(worker, parent: int) -> None:
    """Stop when the process that started us is gone (the server was killed)."""
    def watch():
        while not worker.stopping:
            if os.getppid() != parent:
                logging.getLogger("fhirsvc.jobs").warning("parent %d is gone: stopping", parent)
                worker.stop()
                return
            threading.Event().wait(1.0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def cmd_worker(args) -> int:
    from .bootstrap import build
    from .jobs import Worker
    from .storage.migrate import upgrade
    _log_to_stderr()
    config = _config(args)
    upgrade(config.database_url)
    runtime = build(config)
    try:
        kinds = [k for item in args.kinds or () for k in item.split(",") if k]
        worker = Worker(runtime, only=kinds or None, poll=args.poll)
        _stop_on_signals(worker)
        if args.exit_with_parent:
            _exit_with_parent(worker, args.exit_with_parent)
        worker.run(once=args.once)
    finally:
        runtime.close()
    return 0


def cmd_reindex(args) -> int:
    """Enqueue a reindex job; unless --no-wait, run it here (or wait for the worker that took
    it) and report the outcome."""
    from .bootstrap import build
    from .jobs import JobQueue, Worker
    from .storage.migrate import upgrade
    _log_to_stderr()
    config = _config(args)
    upgrade(config.database_url)
    runtime = build(config)
    try:
        queue = JobQueue(runtime.db)
        params = {k: v for k, v in (("batch", args.batch), ("pause", args.pause)) if v is not None}
        try:
            job = queue.enqueue("reindex", params)
        except ValueError as exc:
            print(f"reindex: {exc}", file=sys.stderr)
            return 2
        print(f"reindex job {job.id} queued", flush=True)
        if args.no_wait:
            print("a worker (`fhirsvc worker`, or the one `fhirsvc serve` starts) will run it")
            return 0
        worker = Worker(runtime, only=["reindex"])
        _stop_on_signals(worker)
        job = run_or_wait(worker, queue, job.id)
    finally:
        runtime.close()
    return report_outcome(job, done=lambda j: f"reindexed {j.result['indexed']} resources")


def run_or_wait(worker, queue, job_id: int, poll: float = 1.0):
    """Run the job in this process if it is still queued, else follow the worker that has it
    (taking it over if that worker dies). Returns the job when it ended or we stopped."""
    shown = None
    while True:
        job = queue.get(job_id)
        if job.terminal or worker.stopping:
            return job
        ran = worker.run_one(job_id=job_id)
        if ran is not None:
            continue
        if job.state == "running" and job.progress_text() != shown:
            shown = job.progress_text()
            print(f"job {job.id}: {shown} (running in {job.owner})", flush=True)
        threading.Event().wait(poll)


def report_outcome(job, done) -> int:
    if job.state == "succeeded":
        print(f"{done(job)} (job {job.id})")
        return 0
    if job.state in ("failed", "cancelled"):
        print(f"job {job.id} {job.state}" + (f": {job.error}" if job.error else ""),
              file=sys.stderr)
        return 1
    print(f"job {job.id} is {job.state}: a worker will finish it (`fhirsvc jobs cancel "
          f"{job.id}` to drop it)", file=sys.stderr)
    return 1


def cmd_jobs(args) -> int:
    import orjson

    from .jobs import JobQueue
    from .storage import Database
    db = Database(_config(args).database_url)
    try:
        queue = JobQueue(db)
        if args.action == "list":
            jobs = queue.list(kind=args.kind, states=args.state and [args.state],
                              limit=args.limit)
            print(f"{'id':>6}  {'kind':<10} {'state':<10} {'attempts':>8}  {'created':<27} "
                  "progress")
            for j in jobs:
                created = j.as_dict()["created"]
                print(f"{j.id:>6}  {j.kind:<10} {j.state:<10} {j.attempts:>4}/{j.max_attempts:<3}"
                      f"  {created:<27} {j.progress_text()}")
            return 0
        if args.id is None:
            print(f"jobs {args.action}: which job? (fhirsvc jobs {args.action} ID)",
                  file=sys.stderr)
            return 2
        job = queue.get(args.id) if args.action == "show" else queue.cancel(args.id)
        if job is None:
            print(f"no job {args.id}", file=sys.stderr)
            return 1
        if args.action == "show":
            print(orjson.dumps(job.as_dict(), option=orjson.OPT_INDENT_2).decode())
        elif job.state == "running":
            print(f"job {job.id}: cancellation requested; it stops at its next checkpoint")
        else:
            print(f"job {job.id}: {job.state}")
        return 0
    finally:
        db.dispose()


# -- remote FHIR systems ---------------------------------------------------------------------

def cmd_endpoints(args) -> int:
    """`endpoints add NAME BASE_URL [...]` / `endpoints list`."""
    import orjson

    from .bootstrap import build
    from .outcomes import OperationOutcomeError
    from .storage.migrate import upgrade
    from .remote import Endpoint
    if args.action == "add":
        if not args.name or not args.base_url:
            print("endpoints add NAME BASE_URL [--token T | --smart-client-id ID --smart-jwk "
                  "FILE --scope S]", file=sys.stderr)
            return 2
        try:
            settings = _endpoint_settings(args)
            Endpoint.from_settings(args.name, args.base_url, settings)  # refused before loading
        except (OSError, ValueError, StopIteration) as exc:
            print(f"endpoints add: {exc or 'no private key in the JWK Set'}", file=sys.stderr)
            return 2
    config = _config(args)
    upgrade(config.database_url)
    runtime = build(config)
    try:
        remote, ctx = runtime.services.remote, runtime.context()
        if args.action == "list":
            for e in remote.endpoints(ctx):
                print(orjson.dumps(e.public()).decode())
            return 0
        try:
            endpoint = remote.add_endpoint(ctx, args.name, args.base_url, settings)
        except OperationOutcomeError as exc:
            print(f"endpoints add: {exc}", file=sys.stderr)
            return 2
        print(f"endpoint {endpoint.name}: {endpoint.base_url} ({endpoint.auth.type})")
        return 0
    finally:
        runtime.close()


def _endpoint_settings(args) -> dict:
    """The settings of `endpoints add` from its options (ValueError, OSError when bad)."""
    import orjson
    try:
        settings = orjson.loads(args.settings) if args.settings else {}
        if args.token:
            settings["auth"] = {"type": "bearer", "token": args.token}
        elif args.smart_client_id or args.smart_jwk:
            if not (args.smart_client_id and args.smart_jwk):
                raise ValueError("SMART needs both --smart-client-id and --smart-jwk")
            jwk = orjson.loads(Path(args.smart_jwk).read_bytes())
            if "keys" in jwk:  # a JWK Set: its first private key
                jwk = next(k for k in jwk["keys"] if "d" in k)
            settings["auth"] = {"type": "smart", "client_id": args.smart_client_id,
                                "jwk": jwk, "scope": args.scope or "system/*.read"}
            if args.token_url:
                settings["auth"]["token_url"] = args.token_url
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if args.ca_bundle:
        settings["ca_bundle"] = args.ca_bundle
    if args.concept_map:
        settings["concept_maps"] = args.concept_map
    return settings


def _remote_job(args, kind: str, start, check) -> int:
    """Enqueue a pull or push; with --wait run it here (or follow the worker that has it)."""
    from .bootstrap import build
    from .jobs import JobQueue, Worker
    from .outcomes import OperationOutcomeError
    from .storage.migrate import upgrade
    try:
        check()  # bad parameters are refused before anything is loaded
    except ValueError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
    _log_to_stderr()
    config = _config(args)
    upgrade(config.database_url)
    runtime = build(config)
    try:
        try:
            job = start(runtime.services.remote, runtime.context())
        except (ValueError, OperationOutcomeError) as exc:
            print(f"{args.command}: {exc}", file=sys.stderr)
            return 2
        print(f"{kind} job {job.id} queued", flush=True)
        if not args.wait:
            print("a worker (`fhirsvc worker`, or the one `fhirsvc serve` starts) will run it; "
                  f"`fhirsvc jobs show {job.id}` shows its result")
            return 0
        worker = Worker(runtime, only=[kind])
        _stop_on_signals(worker)
        job = run_or_wait(worker, JobQueue(runtime.db), job.id)
    finally:
        runtime.close()
    if job.result and job.result.get("problems"):
        for p in job.result["problems"][:20]:
            print(f"  {p.get('severity', 'error')} {p['resource']}: {p['message']}",
                  file=sys.stderr)
    return report_outcome(job, done=lambda j: _remote_summary(kind, j.result))


def _remote_summary(kind: str, r: dict) -> str:
    if kind == "remote-pull":
        return (f"pulled from {r['endpoint']}: {r['seen']} resources seen, {r['stored']} "
                f"stored, {r['unchanged']} unchanged, {r['failed']} problems")
    return (f"pushed to {r['endpoint']} as a {r['kind']}: {r['sent']} resources, "
            f"{r['failed']} refused")


def cmd_pull(args) -> int:
    from .services.remote import pull_parameters
    mode = "patient" if args.patient else "search" if args.search else \
        "bulk" if args.bulk else "types"
    params = {"endpoint": args.name, "mode": mode, "query": args.search,
              "patient": args.patient, "since": args.since}
    return _remote_job(args, "remote-pull", lambda remote, ctx: remote.start_pull(
        ctx, args.name, mode=mode, query=args.search, patient=args.patient, since=args.since),
        lambda: pull_parameters(params))


def cmd_push(args) -> int:
    from .services.remote import push_parameters
    params = {"endpoint": args.name, "patient": args.patient, "group": args.group,
              "query": args.search}
    return _remote_job(args, "remote-push", lambda remote, ctx: remote.start_push(
        ctx, args.name, patient=args.patient, group=args.group, query=args.search),
        lambda: push_parameters(params))


def cmd_cohort_stats(args) -> int:
    """The cohort statistics of the stored study, as JSON, CSV or SVG on standard output."""
    import orjson

    from .analytics import statistics_csv, statistics_svg
    from .bootstrap import build
    from .outcomes import OperationOutcomeError
    runtime = build(_config(args))
    try:
        study = tuple(args.study.split("|", 1)) if args.study else None
        stats = runtime.services.analytics.cohort_statistics(runtime.context(), study)
    except OperationOutcomeError as exc:
        print(f"cohort-stats: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    if args.format == "csv":
        sys.stdout.write(statistics_csv(stats))
    elif args.format == "svg":
        sys.stdout.write(statistics_svg(stats))
    else:
        sys.stdout.write(orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


# -- HL7 v2 ----------------------------------------------------------------------------------

def start_mllp(config) -> subprocess.Popen:
    """The MLLP listener beside the web server (FHIRSVC_MLLP_PORT=0: none)."""
    env = dict(os.environ, FHIRSVC_DATABASE_URL=config.database_url)
    return subprocess.Popen([sys.executable, "-m", "fhirsvc", "mllp",
                             "--exit-with-parent", str(os.getpid())], env=env)


def mllp_busy_message(host: str, port: int, why: str, serve: bool = False) -> str:
    """The one line a busy (or forbidden) MLLP port is refused with."""
    return (f"fhirsvc: cannot listen for MLLP on {host}:{port}: {why}. Stop what is using it "
            "or choose another port (FHIRSVC_MLLP_PORT" + (
                "; 0 serves HTTP without the MLLP listener)." if serve else " or --port)."))


def _watch_mllp(proc: subprocess.Popen, stop=None) -> threading.Event:
    """The MLLP listener exiting on its own (its port taken between the check and the bind,
    or a crash) stops serve too, exit status 2: HTTP does not go on without the HL7 feed."""
    failed = threading.Event()

    def watch():
        code = proc.wait()
        if code not in (0, -signal.SIGTERM) and not failed.is_set():
            failed.set()
            print(f"fhirsvc: the MLLP listener exited (status {code}); stopping the server",
                  file=sys.stderr, flush=True)
            (stop or (lambda: os.kill(os.getpid(), signal.SIGTERM)))()
    threading.Thread(target=watch, name="mllp-watch", daemon=True).start()
    return failed


def cmd_mllp(args) -> int:
    from .bootstrap import build
    from .mllp import run
    from .serving import port_in_use
    from .storage.migrate import upgrade
    _log_to_stderr()
    config = _config(args).with_(**{k: v for k, v in (("mllp_host", args.host),
                                                       ("mllp_port", args.port),
                                                       ("mllp_processes", args.processes))
                                    if v is not None})
    # fail before migrating or loading anything
    busy = port_in_use(config.mllp_host, config.mllp_port) if config.mllp_port else None
    if busy:
        print(mllp_busy_message(config.mllp_host, config.mllp_port, busy), file=sys.stderr)
        return 2
    upgrade(config.database_url)
    runtime = build(config)
    if config.warm:  # before the first message, not during it (warm.py)
        from .warm import warm
        warm(runtime)
    if args.exit_with_parent:
        parent = args.exit_with_parent

        def watch():  # the server was killed: stop listening too (no orphan on 2575)
            while os.getppid() == parent:
                threading.Event().wait(1.0)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    try:
        run(runtime, config.mllp_host, config.mllp_port, config.mllp_threads,
            processes=config.mllp_processes)
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # taken while we loaded (the check above is not a reservation)
        print(mllp_busy_message(config.mllp_host, config.mllp_port,
                                exc.strerror or str(exc)), file=sys.stderr)
        return 2
    except ValueError as exc:  # the sender policy refuses this listener (docs/security.md)
        print(f"fhirsvc mllp: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.close()
    return 0


def cmd_convert_hl7v2(args) -> int:
    """Print the Bundle each file converts to (nothing is stored), for people writing mappings."""
    import orjson

    from .bootstrap import build
    from .outcomes import OperationOutcomeError
    from .storage.migrate import upgrade
    config = _config(args)
    upgrade(config.database_url)
    runtime = build(config)
    failed = 0
    try:
        ctx = runtime.context(door="cli")
        for name in args.files:
            try:
                converted = runtime.services.hl7v2.convert(ctx, Path(name).read_bytes())
                sys.stdout.write(orjson.dumps(converted.bundle, option=orjson.OPT_INDENT_2)
                                 .decode() + "\n")
                for w in converted.warnings:
                    print(f"{name}: {w.severity} {', '.join(w.expression)}: {w.message}",
                          file=sys.stderr)
            except OperationOutcomeError as exc:
                failed += 1
                print(f"{name}: FAILED ({exc.status})", file=sys.stderr)
                for i in exc.issues:
                    print(f"  {i.severity} {', '.join(i.expression)}: {i.message}",
                          file=sys.stderr)
            except OSError as exc:
                failed += 1
                print(f"{name}: FAILED ({exc})", file=sys.stderr)
    finally:
        runtime.close()
    return 1 if failed else 0
def cmd_clients(args) -> int:
    """Register, list or remove SMART Backend Services clients (docs/security.md)."""
    import json

    from .security.authserver import AuthorizationServer
    from .storage import Database
    from .storage.migrate import upgrade
    config = _config(args)
    upgrade(config.database_url)
    db = Database(config.database_url)
    server = AuthorizationServer(db, signing_key=None)
    try:
        if args.action == "list":
            for row in server.clients():
                kids = [k.get("kid") for k in json.loads(row.jwks)["keys"]]
                print(f"{row.client_id}  class={row.client_class}  scope={row.scope!r}  "
                      f"keys={','.join(kids)}" + (f"  patient={row.patient}" if row.patient
                                                 else ""))
            return 0
        if not args.client_id:
            print(f"clients {args.action}: which client? (fhirsvc clients {args.action} ID)",
                  file=sys.stderr)
            return 2
        if args.action == "remove":
            if not server.remove(args.client_id):
                print(f"no client {args.client_id}", file=sys.stderr)
                return 1
            print(f"client {args.client_id} removed")
            return 0
        if not args.jwks or not args.scope:
            print("clients add: give --jwks FILE (the client's public keys) and --scope "
                  "\"system/Patient.rs ...\"", file=sys.stderr)
            return 2
        try:
            row = server.register(args.client_id, Path(args.jwks).read_text(), args.scope,
                                  args.client_class, args.patient)
        except (OSError, ValueError) as exc:
            print(f"clients add: {exc}", file=sys.stderr)
            return 2
        print(f"client {row.client_id} registered (class {row.client_class}): may ask for "
              f"{row.scope}")
        return 0
    finally:
        db.dispose()


def cmd_users(args) -> int:
    """Add, list or remove the people who log in to the pages (fhirsvc/security/users.py)."""
    from .security.users import UserDirectory
    from .storage import Database
    from .storage.migrate import upgrade
    config = _config(args)
    upgrade(config.database_url)
    db = Database(config.database_url)
    users = UserDirectory(db)
    try:
        if args.action == "list":
            for row in users.list():
                print(f"{row.name}  scope={row.scope!r}" + ("  disabled" if row.disabled
                                                           else ""))
            return 0
        if not args.name:
            print(f"users {args.action}: whom? (fhirsvc users {args.action} NAME)",
                  file=sys.stderr)
            return 2
        if args.action == "remove":
            if not users.remove(args.name):
                print(f"no user {args.name}", file=sys.stderr)
                return 1
            print(f"user {args.name} removed")
            return 0
        if not args.scope:
            print('users add: give --scope "user/*.rs ..." (user/ scopes, fhirsvc/admin)',
                  file=sys.stderr)
            return 2
        try:
            if args.password_file:
                password = Path(args.password_file).read_text().rstrip("\r\n")
            else:
                import getpass
                password = getpass.getpass(f"Password for {args.name}: ")
                if getpass.getpass("Again: ") != password:
                    print("users add: the two passwords differ", file=sys.stderr)
                    return 2
            user = users.add(args.name, password, args.scope)
        except (OSError, ValueError) as exc:
            print(f"users add: {exc}", file=sys.stderr)
            return 2
        print(f"user {user.name} may log in to the pages with {' '.join(sorted(user.scopes))}")
        return 0
    finally:
        db.dispose()


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
    p.add_argument("--no-worker", action="store_true",
                   help="do not start a job worker beside the server (also FHIRSVC_WORKER=off)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("migrate", help="apply database migrations")
    common(p)
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("load", help="load Bundles / resources (default: examples/)")
    common(p, server=True)
    p.add_argument("paths", nargs="*")
    p.add_argument("--if-empty", action="store_true", help="only when the database is empty")
    p.add_argument("--bulk", action="store_true",
                   help="NDJSON / Bundle files of new resources straight into storage, in big "
                   "transactions, without validation (storage.bulk_load)")
    p.add_argument("--batch", type=int, default=5000, help="resources per transaction (--bulk)")
    p.set_defaults(func=cmd_load)
    p = sub.add_parser("cohort-stats", help="cohort statistics of the stored study")
    common(p)
    p.add_argument("--format", choices=("json", "csv", "svg"), default="json")
    p.add_argument("--study", help="ResearchStudy identifier as system|value (when several)")
    p.set_defaults(func=cmd_cohort_stats)
    p = sub.add_parser("reindex", help="rebuild all search index rows (a job: enqueue it, "
                       "then run it here or wait for the worker that takes it)")
    common(p)
    p.add_argument("--no-wait", action="store_true", help="only enqueue it, for a worker")
    p.add_argument("--batch", type=int, help="resources per transaction (default 500)")
    p.add_argument("--pause", type=float,
                   help="seconds between batches, to leave room for other writers (default 0)")
    p.set_defaults(func=cmd_reindex)
    p = sub.add_parser("worker", help="run background jobs (reindex, ...) until SIGTERM")
    common(p)
    p.add_argument("--once", action="store_true", help="run the jobs ready now, then exit")
    p.add_argument("--poll", type=float,
                   help="seconds between looks at an empty queue (FHIRSVC_JOB_POLL, default 1)")
    p.add_argument("--kinds", nargs="+", metavar="KIND",
                   help="claim only these job kinds (default: all this version knows)")
    p.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("jobs", help="list, show or cancel background jobs")
    common(p)
    p.add_argument("action", choices=["list", "show", "cancel"])
    p.add_argument("id", nargs="?", type=int, help="job id (show, cancel)")
    p.add_argument("--kind", help="list: only this kind")
    p.add_argument("--state", choices=["queued", "running", "succeeded", "failed", "cancelled"],
                   help="list: only this state")
    p.add_argument("--limit", type=int, default=50, help="list: newest N (default 50)")
    p.set_defaults(func=cmd_jobs)
    p = sub.add_parser("endpoints", help="configure remote FHIR systems (pull / push)")
    common(p)
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("base_url", nargs="?")
    p.add_argument("--token", help="a static bearer token")
    p.add_argument("--smart-client-id", help="SMART Backend Services client id")
    p.add_argument("--smart-jwk", metavar="FILE", help="the private JWK (RS384 / ES384)")
    p.add_argument("--scope", help="SMART scopes (default system/*.read)")
    p.add_argument("--token-url", help="token endpoint (default: from .well-known)")
    p.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to verify TLS with")
    p.add_argument("--concept-map", action="append", metavar="URL",
                   help="ConceptMap (stored here) translating the remote's codes; repeatable")
    p.add_argument("--settings", metavar="JSON", help="further settings (rate_limit, timeout, "
                   "types, strict, page_size, extra_origins)")
    p.set_defaults(func=cmd_endpoints)
    p = sub.add_parser("pull", help="pull from a remote endpoint (a job)")
    common(p)
    p.add_argument("name")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--patient", metavar="ID", help="Patient/ID/$everything on the remote")
    g.add_argument("--search", metavar="QUERY", help="one search, e.g. 'Observation?code=...'")
    g.add_argument("--bulk", action="store_true", help="a Bulk Data $export of the remote")
    p.add_argument("--since", metavar="INSTANT",
                   help="only what changed since (default: where the last pull ended)")
    p.add_argument("--wait", action="store_true", help="run it here and report the outcome")
    p.set_defaults(func=cmd_pull)
    p = sub.add_parser("push", help="push to a remote endpoint (a job)")
    common(p)
    p.add_argument("name")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--patient", metavar="ID", help="the patient's compartment")
    g.add_argument("--group", metavar="ID", help="a Group and its members' compartments")
    g.add_argument("--search", metavar="QUERY", help="a search result, e.g. 'Condition?...'")
    p.add_argument("--wait", action="store_true", help="run it here and report the outcome")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("mllp", help="HL7 v2 over MLLP: listen until SIGTERM")
    common(p)
    p.add_argument("--host", help="bind address (FHIRSVC_MLLP_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (FHIRSVC_MLLP_PORT, default 2575)")
    p.add_argument("--processes", type=int, help="worker processes storing the messages "
                   "(FHIRSVC_MLLP_PROCESSES, default 1: the listener itself)")
    p.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_mllp)
    p = sub.add_parser("convert-hl7v2", help="print the Bundles HL7 v2 files convert to")
    common(p)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_convert_hl7v2)
    from . import registry_cli
    registry_cli.add_parser(sub, common)
    p = sub.add_parser("clients", help="SMART Backend Services clients of the built-in "
                       "authorization server: add, list, remove")
    common(p)
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("client_id", nargs="?")
    p.add_argument("--jwks", help="add: JSON Web Key Set file with the client's public keys")
    p.add_argument("--scope", help='add: the scopes it may ask for, e.g. "system/Patient.rs '
                   'system/Observation.rs"')
    p.add_argument("--client-class", default="standard",
                   help="add: its limits (FHIRSVC_CLIENT_CLASSES; default standard)")
    p.add_argument("--patient", help="add: the patient its patient/ scopes are bound to")
    p.set_defaults(func=cmd_clients)
    p = sub.add_parser("users", help="people who log in to the pages (auth on): add, list, "
                       "remove")
    common(p)
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("name", nargs="?")
    p.add_argument("--scope", help='add: their scopes, e.g. "user/*.rs" (user/ scopes; '
                   'fhirsvc/admin for administrators)')
    p.add_argument("--password-file", help="add: read the password from this file (else a "
                   "prompt)")
    p.set_defaults(func=cmd_users)
    sub.add_parser("validate", help="validate files: fhirsvc validate --help")
    args = parser.parse_args(argv)
    return args.func(args)
