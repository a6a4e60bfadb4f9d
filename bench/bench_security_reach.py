"""Cost of two issue-13 checks, over HTTP (Flask test client, FHIRSVC_AUTH=smart, the whole
request path), each interleaved with its baseline in one process on one database:

1. shared rate limits: a read with the bucket in the database (one upsert, its own write
   transaction) against the same app with per-process buckets (FHIRSVC_RATE_LIMIT_STORE=process);
2. the reach check of a chained search (`Observation?subject:Patient.name=...`: the guard parses
   the chained parameter and checks each joined type) against the same search with the check
   replaced by a pass-through.

    python bench/bench_security_reach.py                      # SQLite and PostgreSQL
    python bench/bench_security_reach.py --db sqlite --rounds 10 --per-round 50
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhirsvc import create_app  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from bench_audit import PG_ADMIN, pct, seed  # noqa: E402

BASE = "http://localhost/fhir"


def token(runtime, scope: str) -> str:
    now = int(time.time())
    return runtime.services.auth.key.issue({
        "iss": "http://localhost/auth", "sub": "bench", "aud": BASE, "exp": now + 3000,
        "iat": now, "nbf": now, "jti": uuid.uuid4().hex, "client_id": "bench",
        "scope": scope, "client_class": "standard"})


def run(url: str, patients: int, rounds: int, per_round: int, tmp: str) -> dict:
    upgrade(url)
    common = dict(database_url=url, auth="smart", auth_signing_key=f"{tmp}/key.pem",
                  audit_flush_interval=0.5, examples_dir=Path(tmp),
                  client_classes='{"standard": {"rate": 1e9, "burst": 1000000000}}')
    shared = create_app(Config(rate_limit_store="database", **common))
    local = create_app(Config(rate_limit_store="process", **common))
    rt = shared.extensions["fhirsvc.runtime"]
    seed(rt, patients)
    headers = {"Authorization": "Bearer " + token(rt, "system/Patient.rs system/Observation.rs")}
    clients = {"database": shared.test_client(), "process": local.test_client()}
    guard = rt.services.guard
    real_reach = guard.reach
    rng = random.Random(13)
    times = {k: [] for k in ("database", "process", "reach", "no-reach")}
    for r in range(rounds):
        for mode in (("database", "process") if r % 2 == 0 else ("process", "database")):
            for _ in range(per_round):
                path = f"/fhir/Patient/p{rng.randrange(patients)}"
                t0 = time.perf_counter()
                resp = clients[mode].get(path, headers=headers)
                times[mode].append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        for mode in (("reach", "no-reach") if r % 2 == 0 else ("no-reach", "reach")):
            guard.reach = real_reach if mode == "reach" else (lambda ctx, rtype, params, *a,
                                                              **k: params)
            for _ in range(per_round):
                path = f"/fhir/Observation?subject:Patient.name=Fam{rng.randrange(97)}&_count=5"
                t0 = time.perf_counter()
                resp = clients["database"].get(path, headers=headers)
                times[mode].append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    guard.reach = real_reach
    local.extensions["fhirsvc.runtime"].close()
    rt.close()
    return {m: (statistics.median(v) * 1000, pct(v, 0.95) * 1000) for m, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=50)
    args = ap.parse_args()
    for backend in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        tmp = tempfile.mkdtemp()
        if backend == "sqlite":
            url, cleanup = f"sqlite:///{tmp}/bench.db", None
        else:
            from fhirsvc.storage.scratch import ScratchDatabases
            dbs = ScratchDatabases(PG_ADMIN)
            url = dbs.create("security_bench")
            cleanup = (dbs, url)
        try:
            res = run(url, args.patients, args.rounds, args.per_round, tmp)
        finally:
            if cleanup:
                cleanup[0].drop(cleanup[1])
                cleanup[0].dispose()
        n = args.rounds * args.per_round
        for a, b, what in (("database", "process", "read, rate bucket in the database vs "
                            "per process"),
                           ("reach", "no-reach", "chained search, reach check vs none")):
            (a50, a95), (b50, b95) = res[a], res[b]
            print(f"{backend}: {what}: p50 {a50:.2f} vs {b50:.2f} ms (x{a50 / b50:.3f}), "
                  f"p95 {a95:.2f} vs {b95:.2f} ms (x{a95 / b95:.3f}), {n} requests each",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
