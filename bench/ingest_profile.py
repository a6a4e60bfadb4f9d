"""Where the CPU of an HTTP ingest goes, cold and in steady state, in one process.

    python bench/ingest_profile.py sqlite|postgresql [--rounds N] [--no-warm]

The Synthea bundles are posted through the Flask app (`POST /fhir`, validation on, REST
Provenance and audit as configured by default; no HTTP server, so no socket work): the shared
organisations, then the patient bundles `--rounds` times (default 4). The request thread's CPU
is sampled (bench/cpu_sampler.py) and each sample goes to the first area, in the order below,
that has a frame on its stack: so JSON work inside validation counts as validation, and "SQL
driver" is the driver's own CPU (round trips' waits are not CPU). Printed for the first round
(cold: first use included, unless `serve`'s warm-up ran: the default here, as `serve` does it;
`--no-warm` leaves it out) and for the other rounds (steady state), in us per resource, with
the SQL statements per round. `--checkout DIR` imports fhirsvc from another checkout (a
baseline; one without the warm-up runs cold)."""
from __future__ import annotations

import argparse
import collections
import gc
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))   # cpu_sampler
sys.path.insert(0, str(ROOT))

AREAS = [
    ("validation", lambda f, n: "fhirsvc/validation/" in f),
    ("index extraction", lambda f, n: "fhirsvc/search/" in f or "storage/fulltext" in f),
    ("Provenance", lambda f, n: "provenance" in n.lower() or "provenance" in f),
    ("audit", lambda f, n: "audit" in f.rsplit("/", 1)[-1]),
    ("references, plan, resolve", lambda f, n: f.endswith(("ingest/references.py",
                                                           "ingest/plan.py",
                                                           "ingest/resolve.py"))),
    # the sqlite3 module runs in C: its CPU shows under the SQLAlchemy frame that called it
    ("SQL: SQLAlchemy and the driver", lambda f, n: "/sqlalchemy/" in f or "/psycopg/" in f),
    ("JSON parse / serialise", lambda f, n: "json" in f.rsplit("/", 1)[-1] or "json" in n
     or f.endswith("fhirsvc/wire.py")),
]


def _rest(stack) -> str:
    """A sample in none of the areas: the innermost frame of fhirsvc or Flask/Werkzeug says."""
    for f, _n in stack:
        if "/flask/" in f or "/werkzeug/" in f:
            return "Flask / Werkzeug"
        if "fhirsvc/" in f:
            return "the rest (api, services, pipeline, storage)"
    return "other"


def areas(stacks: collections.Counter) -> collections.Counter:
    out: collections.Counter = collections.Counter()
    for stack, cpu in stacks.items():
        for name, pred in AREAS:
            if any(pred(f, n) for f, n in stack):
                out[name] += cpu
                break
        else:
            out[_rest(stack)] += cpu
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("db", choices=["sqlite", "postgresql"])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--checkout", help="import fhirsvc from another checkout (a baseline)")
    ap.add_argument("--detail", metavar="AREA", help="also list, for the steady rounds, the "
                    "innermost fhirsvc functions under which that area's CPU was spent")
    args = ap.parse_args()
    sys.setswitchinterval(0.0002)
    if args.checkout:
        sys.path.insert(0, str(Path(args.checkout).resolve()))
    from sqlalchemy import event

    from cpu_sampler import Sampler
    from fhirsvc import create_app
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade

    work = Path(tempfile.mkdtemp(prefix="fhirsvc_ingest_profile_"))
    scratch = None
    if args.db == "sqlite":
        url = f"sqlite:///{work / 'p.db'}"
    else:
        from fhirsvc.storage.scratch import ScratchDatabases
        scratch = ScratchDatabases(os.environ.get(
            "FHIRSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
        url = scratch.create(os.environ.get("FHIRSVC_BENCH_DB_PREFIX", "fhirsvc_profile"))
    try:
        upgrade(url)
        (work / "ex").mkdir()
        config = Config(database_url=url, examples_dir=work / "ex",
                        unknown_extensions="warning")
        app = create_app(config)
        warmed = False
        if not args.no_warm:
            try:
                from fhirsvc.warm import warm
            except ImportError:   # a checkout without the warm-up
                pass
            else:
                warm(app.extensions["fhirsvc.runtime"])
                warmed = True
        gc.collect()
        gc.freeze()
        client = app.test_client()
        headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
        files = sorted(glob.glob(str(ROOT.parent / "shared" / "conformance" / "synthea"
                                     / "*.json")))
        bodies = [open(f, "rb").read() for f in files]
        first = [b for b in bodies if b'"Patient"' not in b[:5000]]
        rest = [b for b in bodies if b not in first]
        for b in first:
            assert client.post("/fhir", data=b, headers=headers).status_code == 200
        statements = [0]
        event.listen(app.extensions["fhirsvc.runtime"].db.engine, "before_cursor_execute",
                     lambda *a: statements.__setitem__(0, statements[0] + 1))

        collecting = [0.0, 0.0]   # CPU inside the garbage collector (its callbacks), start

        def on_gc(phase, _info):
            if phase == "start":
                collecting[1] = time.thread_time()
            else:
                collecting[0] += time.thread_time() - collecting[1]
        gc.callbacks.append(on_gc)

        def one_round():
            n, s0 = 0, statements[0]
            collecting[0] = 0.0
            sampler = Sampler().start()
            c = time.thread_time()
            for b in rest:
                r = client.post("/fhir", data=b, headers=headers)
                assert r.status_code == 200, r.get_data()[:300]
                n += len(r.get_json()["entry"])
            cpu = time.thread_time() - c
            sampler.stop()
            return n, cpu, statements[0] - s0, sampler.stacks, collecting[0]

        results = [one_round() for _ in range(args.rounds)]
        for label, rs in (("first round (cold" + (", after the warm-up)" if warmed else
                                                  ": no warm-up)"), results[:1]),
                          (f"rounds 2-{args.rounds} (steady state)", results[1:])):
            n = sum(r[0] for r in rs)
            cpu = sum(r[1] for r in rs)
            stacks: collections.Counter = collections.Counter()
            for r in rs:
                stacks.update(r[3])
            by = areas(stacks)
            sampled = sum(by.values()) or 1.0
            print(f"{args.db}, {label}: {n} resources, thread CPU {cpu / n * 1e6:.0f} "
                  f"us/resource, {sum(r[2] for r in rs) / len(rs):.0f} statements per round "
                  f"(SQLAlchemy-executed), garbage collector {sum(r[4] for r in rs) / n * 1e6:.0f} "
                  "us/resource (inside the areas below)")
            for name, v in by.most_common():
                print(f"  {name:40s} {v / sampled * cpu / n * 1e6:6.0f} us  "
                      f"{v / sampled * 100:5.1f}%")
        if args.detail:
            pred = dict(AREAS)[args.detail]
            callers: collections.Counter = collections.Counter()
            total = 0.0
            for r in results[1:]:
                for stack, cpu in r[3].items():
                    total += cpu
                    if any(p(f, n) for f, n in stack for _a, p in AREAS[:AREAS.index(
                            (args.detail, pred))]) or not any(pred(f, n) for f, n in stack):
                        continue
                    where = next((f"{f.rsplit('fhirsvc/', 1)[-1]}:{n}" for f, n in stack
                                  if "fhirsvc/" in f), "?")
                    callers[where] += cpu
            n = sum(r[0] for r in results[1:])
            cpu = sum(r[1] for r in results[1:])
            for where, v in callers.most_common(15):
                print(f"    {where:60s} {v / total * cpu / n * 1e6:6.0f} us")
        return 0
    finally:
        if scratch is not None:
            app.extensions["fhirsvc.runtime"].close()
            scratch.drop(url)
            scratch.dispose()
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
