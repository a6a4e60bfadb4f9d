"""Bulk Data export throughput and memory, beside a bare SELECT of the stored text.

The Synthea bundles are replicated to each size (as bench_search.py does) and stored without
index rows (a system export reads the resource tables only). Then, alternately `--runs` times
each, in fresh child processes so each peak RSS is the mode's own:
- export: a system-level `$export` kick-off (ExportService) and the `bulk-export` job run to
  the end by a Worker in the same process: NDJSON files on disk, checkpoints in the jobs table;
- select: the baseline, one `SELECT content FROM resource_versions` streamed through the
  driver (fetchmany) and written to one file: the least any export must do.

    python bench/bench_bulk_export.py                            # SQLite and PostgreSQL
    python bench/bench_bulk_export.py --db sqlite --sizes 10000 100000 --runs 3
    FHIRSVC_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (admin URL)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_memory import peak_mb  # noqa: E402  (bench/ is the script's folder)

PG_ADMIN = os.environ.get("FHIRSVC_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_PREFIX = os.environ.get("FHIRSVC_BENCH_DB_PREFIX", "fhirsvc_bench")  # scratch database names




def load(url: str, n: int) -> None:
    from bench_search import generate

    from fhirsvc.storage import Database
    from fhirsvc.storage.migrate import upgrade
    upgrade(url)
    db = Database(url)
    batch = []
    for rtype, rid, res in generate(n):
        batch.append((rtype, rid, res, "PUT"))
        if len(batch) == 2000:
            with db.unit_of_work(write=True) as uow:
                uow.resources.create_many(batch)
                uow.commit()
            batch = []
    if batch:
        with db.unit_of_work(write=True) as uow:
            uow.resources.create_many(batch)
            uow.commit()
    db.analyze(vacuum=True)
    db.dispose()


def child_export(url: str, out: Path) -> dict:
    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.jobs import Worker
    rt = build(Config(database_url=url, export_dir=out, bulk_max_active=1000))
    ctx = rt.context()
    t0 = time.perf_counter()
    kick = rt.services.export.kickoff(ctx, "system", None, [], request_url=ctx.base_url +
                                      "/$export")
    job = Worker(rt, poll=0.01).run_one(kick.job_id)
    elapsed = time.perf_counter() - t0
    assert job.state == "succeeded", job.error
    count = sum(o["count"] for o in job.result["output"])
    size = sum(p.stat().st_size for p in out.rglob("*.ndjson"))
    rt.close()
    return {"seconds": elapsed, "count": count, "bytes": size, "peak_mb": peak_mb()}


def child_select(url: str, out: Path) -> dict:
    from fhirsvc.storage import Database
    db = Database(url)
    t0 = time.perf_counter()
    raw = db.engine.raw_connection()
    count = 0
    try:
        cur = raw.cursor()
        cur.execute("SELECT content FROM resource_versions WHERE content IS NOT NULL")
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "all.ndjson", "wb") as fh:
            while rows := cur.fetchmany(5000):
                fh.write("\n".join(r[0] for r in rows).encode() + b"\n")
                count += len(rows)
    finally:
        raw.close()
    elapsed = time.perf_counter() - t0
    db.dispose()
    return {"seconds": elapsed, "count": count, "peak_mb": peak_mb()}


def run_child(mode: str, url: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url,
                               "--out", str(Path(tmp) / "out")], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", choices=("export", "select"))
    ap.add_argument("--url")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        fn = child_export if args.child == "export" else child_select
        print(json.dumps(fn(args.url, Path(args.out))))
        return 0
    from fhirsvc.storage.scratch import ScratchDatabases
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    pg = ScratchDatabases(PG_ADMIN) if "postgresql" in backends else None
    print("| database | resources | export (median) | res/s | bare SELECT (median) | res/s | "
          "export / SELECT | peak RSS export | peak RSS SELECT |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for n in args.sizes:
                url = (f"sqlite:///{tmp}/bulk-{n}.db" if backend == "sqlite"
                       else pg.create(PG_PREFIX))
                try:
                    t = time.perf_counter()
                    load(url, n)
                    print(f"<!-- {backend} {n}: loaded in {time.perf_counter() - t:.1f} s -->",
                          flush=True)
                    ex, sel = [], []
                    for _ in range(args.runs):  # interleaved: A B A B ...
                        ex.append(run_child("export", url))
                        sel.append(run_child("select", url))
                    assert all(e["count"] == n for e in ex), [e["count"] for e in ex]
                    te = statistics.median(e["seconds"] for e in ex)
                    ts = statistics.median(s["seconds"] for s in sel)
                    print(f"| {backend} | {n:,} | {te:.2f} s | {n / te:,.0f} | {ts:.2f} s | "
                          f"{n / ts:,.0f} | {te / ts:.2f} | "
                          f"{statistics.median(e['peak_mb'] for e in ex):.0f} MB | "
                          f"{statistics.median(s['peak_mb'] for s in sel):.0f} MB |", flush=True)
                finally:
                    if backend == "postgresql":
                        pg.drop(url)
    if pg is not None:
        pg.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
