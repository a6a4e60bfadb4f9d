"""Registry CSV export of 10,000 patients: time and peak memory, beside a bare SELECT of the
same resources' stored text.

The synthetic cohort (examples/cohort.json, 81 patients) is stored through the ingestion
pipeline once, then its stored resources are replicated under new ids (`<uuid>-<copy>`,
references and patient identifiers rewritten) to the target number of patients. Then,
alternately `--runs` times each, in fresh child processes (each peak RSS is the mode's own):
- export: `services.registry.export(ctx, "csv")` written to a file (extraction,
  de-identification, the flat CSV);
- select: the baseline, one `SELECT content` of the dataset's resource types streamed through
  the driver (fetchmany) to a file.

    python bench/bench_registry.py                          # SQLite and PostgreSQL
    python bench/bench_registry.py --db sqlite --patients 1000 10000 --runs 3
    python bench/bench_registry.py --patients 1000 10000 --baseline-code ../main  # beside main

The load writes index rows (the export reads each page of patients through the reference
index), so loading 10,000 patients takes a few minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
# FHIRSVC_BENCH_CODE: another checkout's fhirsvc for a child (--baseline-code: the same export
# by an older version, e.g. main, in the same run)
sys.path.insert(0, os.environ.get("FHIRSVC_BENCH_CODE") or str(ROOT))
from peak_memory import peak_mb  # noqa: E402  (bench/ is the script's folder)

PG_ADMIN = os.environ.get("FHIRSVC_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_PREFIX = os.environ.get("FHIRSVC_BENCH_DB_PREFIX", "fhirsvc_bench")  # scratch database names
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TYPES = ("Patient", "Condition", "Observation", "BodyStructure", "MedicationStatement",
         "Procedure")




def template(tmp: str) -> list:
    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    url = f"sqlite:///{tmp}/template.db"
    upgrade(url)
    rt = build(Config(database_url=url, examples_dir=Path(tmp)))
    rt.services.resources.bundle(rt.context(), (ROOT / "examples" / "cohort.json").read_bytes())
    with rt.db.unit_of_work() as uow:
        items = [[s.resource_type, s.resource_id, s.resource()]
                 for s in uow.resources.iter_current()]
    rt.close()
    return items


def load(url: str, items: list, patients: int) -> int:
    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    upgrade(url)
    # with index rows: the export reads each page of patients' compartments through them
    rt = build(Config(database_url=url, examples_dir=Path(tempfile.mkdtemp())))
    db = rt.db
    per_copy = sum(1 for t, _, _ in items if t == "Patient")
    blob = orjson.dumps(items)
    stored, copy = 0, 0
    while copy * per_copy < patients:
        suffix = f"-{copy}".encode()
        data = orjson.loads(UUID.sub(lambda m: m.group(0) + suffix, blob))
        batch = []
        for rtype, rid, res in data:
            if rtype == "Patient":
                for ident in res.get("identifier", []):
                    ident["value"] = f"{ident['value']}-{copy}"
            batch.append((rtype, rid, res, "PUT"))
        with db.unit_of_work(write=True) as uow:
            uow.resources.create_many(batch)
            uow.commit()
        stored += len(batch)
        copy += 1
    db.analyze(vacuum=True)
    rt.close()
    return stored


def child_export(url: str, out: Path) -> dict:
    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    rt = build(Config(database_url=url, pseudonym_key="bench"))
    t0 = time.perf_counter()
    rows = -1
    with open(out, "w", encoding="utf-8", newline="") as fh:
        for line in rt.services.registry.export(rt.context(), "csv"):
            fh.write(line)
            rows += 1
    elapsed = time.perf_counter() - t0
    rt.close()
    return {"seconds": elapsed, "rows": rows, "bytes": out.stat().st_size, "peak_mb": peak_mb()}


def child_select(url: str, out: Path) -> dict:
    from fhirsvc.storage import Database
    db = Database(url)
    t0 = time.perf_counter()
    raw = db.engine.raw_connection()
    count = 0
    try:
        cur = raw.cursor()
        marks = ", ".join(f"'{t}'" for t in TYPES)  # fixed names, not input
        cur.execute(f"SELECT content FROM resource_versions WHERE resource_type IN ({marks}) "
                    "AND content IS NOT NULL")
        with open(out, "wb") as fh:
            while rows := cur.fetchmany(5000):
                fh.write("\n".join(r[0] for r in rows).encode() + b"\n")
                count += len(rows)
    finally:
        raw.close()
    elapsed = time.perf_counter() - t0
    db.dispose()
    return {"seconds": elapsed, "rows": count, "peak_mb": peak_mb()}


def run_child(mode: str, url: str, code: str | None = None) -> dict:
    env = dict(os.environ, FHIRSVC_BENCH_CODE=code) if code else None
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url,
                               "--out", str(Path(tmp) / "out.csv")], capture_output=True,
                              text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--patients", type=int, nargs="+", default=[10_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline-code", help="another checkout (e.g. main): its export too, "
                    "interleaved, in a column of its own")
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
    base = args.baseline_code
    print("| database | patients (resources) | CSV export (median) | patients/s | peak RSS | "
          + ("baseline code export | its peak RSS | " if base else "")
          + "bare SELECT (median) | peak RSS | export / SELECT |")
    print("|---|---:|---:|---:|---:|" + ("---:|---:|" if base else "") + "---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        items = template(tmp)
        for backend in backends:
            for n in args.patients:
                url = (f"sqlite:///{tmp}/registry-{n}.db" if backend == "sqlite"
                       else pg.create(PG_PREFIX))
                try:
                    t = time.perf_counter()
                    stored = load(url, items, n)
                    print(f"<!-- {backend} {n}: loaded in {time.perf_counter() - t:.0f} s -->",
                          flush=True)
                    ex, old, sel = [], [], []
                    for _ in range(args.runs):  # interleaved
                        ex.append(run_child("export", url))
                        if base:
                            old.append(run_child("export", url, base))
                        sel.append(run_child("select", url))
                    te = statistics.median(e["seconds"] for e in ex)
                    ts = statistics.median(s["seconds"] for s in sel)
                    row = (f"| {backend} | {ex[0]['rows']:,} ({stored:,}) | {te:.2f} s | "
                           f"{ex[0]['rows'] / te:,.0f} | "
                           f"{statistics.median(e['peak_mb'] for e in ex):.0f} MB | ")
                    if base:
                        row += (f"{statistics.median(o['seconds'] for o in old):.2f} s | "
                                f"{statistics.median(o['peak_mb'] for o in old):.0f} MB | ")
                    row += (f"{ts:.2f} s | {statistics.median(s['peak_mb'] for s in sel):.0f} MB"
                            f" | {te / ts:.1f} |")
                    print(row, flush=True)
                finally:
                    if backend == "postgresql":
                        pg.drop(url)
    if pg is not None:
        pg.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
