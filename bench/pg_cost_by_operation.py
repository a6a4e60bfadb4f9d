"""What each operation of the mixed load costs PostgreSQL itself, one kind at a time.

    python bench/pg_cost_by_operation.py [--grow 2000] [--clients 4] [--requests 300]
        [--checkout BASE]

A fresh database gets the Synthea bundles, then `--grow` Observations created as the mixed
load creates them (code 8302-2, random patient: what a 90 s run adds), all through one
`fhirsvc serve` with the production settings and `--auth smart` (class seed) as in
bench/mixed_load.py. Then each operation of that load runs alone, `--requests` times from
`--clients` threads, and is charged: the CPU of this database's backends (/proc, the
backends found in pg_stat_activity; others' databases on the server are not counted), the
shared buffers its statements touched and its transactions (pg_stat_database of this
database, read after the backends flushed their counters), the app workers' CPU, p50 / p95.
Writes run last (they grow the data for the reads after them); the database is not ANALYZEd
by the script (autovacuum may, as in a real run: the last column says whether it did).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import mixed_load as ml  # noqa: E402
from tools.server_process import Server  # noqa: E402


def backend_cpu(conn, name: str) -> dict[int, float]:
    pids = [r[0] for r in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,))]
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def db_counters(conn, name: str) -> tuple[int, int]:
    """(buffers, transactions) of the database so far, once two reads 1.5 s apart agree
    (idle backends flush their counters within about a second; at most 15 s)."""
    last = None
    for _ in range(10):
        time.sleep(1.5)
        now = conn.execute("SELECT blks_hit + blks_read, xact_commit + xact_rollback "
                           "FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
        if now == last:
            break
        last = now
    return now   # includes this connection's own few reads (under 0.05 per request)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grow", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--checkout", help="run the server from another checkout (a baseline)")
    args = ap.parse_args()
    import psycopg

    from fhirsvc.security.tokens import SigningKey
    from fhirsvc.storage.migrate import upgrade
    from fhirsvc.storage.scratch import ScratchDatabases
    work = Path(tempfile.mkdtemp(prefix="fhirsvc_pgcost_"))
    scratch = ScratchDatabases(os.environ.get(
        "FHIRSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    url = scratch.create("fhirsvc_pgcost")
    name = url.rsplit("/", 1)[1]
    if args.checkout:
        import subprocess
        subprocess.run([sys.executable, "-m", "fhirsvc", "migrate", "--database-url", url],
                       cwd=args.checkout, check=True)
        import tools.server_process as sp
        sp.ROOT = Path(args.checkout).resolve()
    else:
        upgrade(url)
    key = SigningKey.load_or_create(work / "signing.pem")
    env = {"FHIRSVC_WORKER": "off", "FHIRSVC_AUTH": "smart",
           "FHIRSVC_AUTH_SIGNING_KEY": str(work / "signing.pem"),
           "FHIRSVC_CLIENT_CLASSES": '{"seed": {"rate": 1e6, "burst": 100000}}'}
    srv = Server(url, work, workers=2, env=env).start()
    mon = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    try:
        facts = ml.seed(srv.base, ml.bearer(key, srv.base, "bench-seed", "seed"))

        def run(op: str, n_each: int) -> dict:
            lat: list[float] = []
            lock = threading.Lock()

            def client(i: int):
                rnd = random.Random(f"{op}{i}")
                s = requests.Session()
                s.headers.update(ml.bearer(key, srv.base, f"bench-{i}", "seed"))
                for _ in range(n_each):
                    t = time.perf_counter()
                    r = ml.operation(op, s, srv.base, facts, rnd)
                    if r.status_code >= 400:
                        raise RuntimeError(f"{op}: {r.status_code} {r.text[:200]}")
                    with lock:
                        lat.append(time.perf_counter() - t)
            b0, x0 = db_counters(mon, name)
            cpu0, app0 = backend_cpu(mon, name), ml.children_cpu(srv.proc.pid)
            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            cpu1, app1 = backend_cpu(mon, name), ml.children_cpu(srv.proc.pid)
            b1, x1 = db_counters(mon, name)
            n = len(lat)
            lost = [p for p in cpu0 if p not in cpu1]
            return {"n": n, "pg_cpu_ms": sum(cpu1[p] - cpu0.get(p, 0.0) for p in cpu1) / n * 1e3,
                    "buffers": (b1 - b0) / n, "xacts": (x1 - x0) / n,
                    "app_cpu_ms": (app1 - app0) / n * 1e3,
                    "p50": statistics.median(lat) * 1e3, "p95": ml.pct(lat, 95) * 1e3,
                    "lost_backends": len(lost)}

        if args.grow:
            run("create Observation", max(1, args.grow // args.clients))
        analyzed = mon.execute("SELECT count(*) FROM pg_stat_user_tables WHERE "
                               "coalesce(last_autoanalyze, last_analyze) IS NOT NULL").fetchone()[0]
        print(f"{name}: Synthea + {args.grow} Observations created; tables analyzed so far: "
              f"{analyzed}; load average {os.getloadavg()[0]:.1f}")
        print(f"{'operation':28} {'n':>5} {'PG CPU ms':>9} {'buffers':>8} {'xacts':>6} "
              f"{'app CPU ms':>10} {'p50 ms':>7} {'p95 ms':>7}")
        ops = [n for n, _w in ml.READS] + [n for n, _w in ml.WRITES]
        for op in ops:
            m = run(op, max(1, args.requests // args.clients))
            print(f"{op:28} {m['n']:5} {m['pg_cpu_ms']:9.2f} {m['buffers']:8.0f} "
                  f"{m['xacts']:6.2f} {m['app_cpu_ms']:10.2f} {m['p50']:7.1f} {m['p95']:7.1f}"
                  + (f"  ({m['lost_backends']} backends gone)" if m["lost_backends"] else ""))
        print(json.dumps({"analyzed_tables_at_end": mon.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE "
            "coalesce(last_autoanalyze, last_analyze) IS NOT NULL").fetchone()[0]}))
    finally:
        mon.close()
        srv.kill()
        scratch.drop(url)
        scratch.dispose()


if __name__ == "__main__":
    main()
