"""Read auditing cost: search p50/p95 over HTTP (Flask test client, the whole request path:
token check off, view, service, engine, after-request audit record) with every read audited
(audit_read_sample 1.0) against the baseline with none recorded (0.0), interleaved in one
process on one database, so machine noise hits both alike.

    python bench/bench_audit.py                         # SQLite and PostgreSQL
    python bench/bench_audit.py --db sqlite --patients 2000 --rounds 20 --per-round 50
    python bench/bench_audit.py --ingest     # also: transaction ingest with / without the
                                             # change records (written in the same transaction)

Target (issue 13): audited search p95 within 10% of the baseline.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhirsvc import create_app  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402

PG_ADMIN = os.environ.get("FHIRSVC_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def seed(runtime, patients: int) -> None:
    ctx = runtime.context()
    for start in range(0, patients, 200):
        entries = []
        for i in range(start, min(patients, start + 200)):
            entries.append({"resource": {"resourceType": "Patient", "id": f"p{i}",
                                         "gender": "female" if i % 2 else "male",
                                         "name": [{"family": f"Fam{i % 97}"}]},
                            "request": {"method": "PUT", "url": f"Patient/p{i}"}})
            entries.append({"resource": {"resourceType": "Observation", "id": f"o{i}",
                                         "status": "final", "code": {"text": "calcinosis score"},
                                         "subject": {"reference": f"Patient/p{i}"}},
                            "request": {"method": "PUT", "url": f"Observation/o{i}"}})
        runtime.services.resources.bundle(ctx, {"resourceType": "Bundle",
                                                "type": "transaction", "entry": entries})
    runtime.db.analyze(vacuum=False)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(url: str, patients: int, rounds: int, per_round: int) -> dict:
    upgrade(url)
    app = create_app(Config(database_url=url, audit_flush_interval=0.5))
    runtime = app.extensions["fhirsvc.runtime"]
    log = runtime.services.audit.log
    seed(runtime, patients)
    client = app.test_client()
    rng = random.Random(7)
    times = {"baseline": [], "audited": []}
    for r in range(rounds):
        order = ["baseline", "audited"] if r % 2 == 0 else ["audited", "baseline"]
        for mode in order:
            log.read_sample = 1.0 if mode == "audited" else 0.0
            for _ in range(per_round):
                i = rng.randrange(patients)
                path = rng.choice([f"/fhir/Observation?subject=Patient/p{i}",
                                   f"/fhir/Patient?family=Fam{i % 97}&_count=20",
                                   f"/fhir/Patient/p{i}"])
                t0 = time.perf_counter()
                resp = client.get(path)
                times[mode].append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    log.flush()
    with runtime.db.unit_of_work() as uow:
        recorded, _ = uow.audit.find(count=1)
    runtime.close()
    out = {m: (statistics.median(v) * 1000, pct(v, 0.95) * 1000) for m, v in times.items()}
    out["recorded"] = recorded
    return out


def ingest_cost(url: str, rounds: int, size: int = 200) -> dict:
    """Seconds per transaction of `size` new Patients with the audit change rows written (as
    always) against the same with them suppressed, interleaved."""
    import fhirsvc.ingest.pipeline as pipeline
    upgrade(url)
    app = create_app(Config(database_url=url))
    runtime = app.extensions["fhirsvc.runtime"]
    ctx = runtime.context()
    real = pipeline.change_rows
    times = {"without": [], "with": []}
    n = 0
    for r in range(rounds):
        for mode in (["without", "with"] if r % 2 == 0 else ["with", "without"]):
            pipeline.change_rows = real if mode == "with" else (lambda ctx, results: [])
            entries = []
            for _ in range(size):
                n += 1
                entries.append({"resource": {"resourceType": "Patient",
                                             "name": [{"family": f"Ingest{n}"}]},
                                "request": {"method": "POST", "url": "Patient"}})
            t0 = time.perf_counter()
            runtime.services.resources.bundle(ctx, {"resourceType": "Bundle",
                                                    "type": "transaction", "entry": entries})
            times[mode].append(time.perf_counter() - t0)
    pipeline.change_rows = real
    runtime.close()
    return {m: statistics.median(v) for m, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--per-round", type=int, default=50)
    ap.add_argument("--ingest", action="store_true",
                    help="also time transactions with and without their audit change rows")
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for backend in backends:
        if backend == "sqlite":
            tmp = tempfile.mkdtemp()
            url, cleanup = f"sqlite:///{tmp}/bench.db", None
        else:
            from fhirsvc.storage.scratch import ScratchDatabases
            dbs = ScratchDatabases(PG_ADMIN)
            url = dbs.create()
            cleanup = (dbs, url)
        try:
            res = run(url, args.patients, args.rounds, args.per_round)
            ing = ingest_cost(url, 10) if args.ingest else None
        finally:
            if cleanup:
                cleanup[0].drop(cleanup[1])
                cleanup[0].dispose()
        b50, b95 = res["baseline"]
        a50, a95 = res["audited"]
        print(f"{backend}: baseline p50 {b50:.2f} ms p95 {b95:.2f} ms | audited p50 {a50:.2f} "
              f"ms p95 {a95:.2f} ms | p95 ratio {a95 / b95:.3f} | audit rows {res['recorded']}"
              f" | {args.rounds * args.per_round} requests each", flush=True)
        if ing:
            print(f"{backend}: transaction of 200 Patients, median of 10: without audit rows "
                  f"{ing['without'] * 1000:.0f} ms, with {ing['with'] * 1000:.0f} ms, ratio "
                  f"{ing['with'] / ing['without']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
