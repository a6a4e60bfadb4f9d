"""Ingest benchmark: the Synthea transaction bundles POSTed over HTTP to a real server.

Validation and search indexing are on (the normal write path). Baseline, same run, same
bytes: bare `fhir.resources` (R4B) parsing of each bundle. Also: peak memory of one
5,000-entry transaction processed in a fresh process.

    .venv/bin/python bench/bench_ingest.py [--rounds 3] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SYNTHEA = ROOT.parent / "shared" / "conformance" / "synthea"
PG_ADMIN = os.environ.get("FHIRSVC_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")

from tools.server_process import Server  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402
from fhirsvc.storage.scratch import ScratchDatabases  # noqa: E402


def bundles() -> list[tuple[str, bytes, int]]:
    files = sorted(SYNTHEA.glob("*.json"),
                   key=lambda p: (not p.name.startswith(("hospital", "practitioner")), p.name))
    out = []
    for p in files:
        data = p.read_bytes()
        out.append((p.name, data, len(json.loads(data)["entry"])))
    return out


def baseline_rate(items, rounds: int) -> float:
    from fhir.resources.R4B.bundle import Bundle
    n = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for _, data, count in items:
            Bundle.model_validate_json(data)
            n += count
    return n / (time.perf_counter() - t0)


def http_rate(base: str, items, rounds: int, clients: int) -> tuple[float, int]:
    """Resources per second; the first round (Organizations, Practitioners) is sequential."""
    session = requests.Session()
    headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
    ref, rest = items[:2], items[2:]
    for _, data, _ in ref:
        r = session.post(base, data=data, headers=headers, timeout=300)
        r.raise_for_status()
    work = [(name, data, count) for _ in range(rounds) for name, data, count in rest]
    lock = threading.Lock()
    done = {"n": 0, "failed": 0}

    def worker():
        s = requests.Session()
        while True:
            with lock:
                if not work:
                    return
                _, data, count = work.pop()
            r = s.post(base, data=data, headers=headers, timeout=300)
            with lock:
                if r.status_code == 200:
                    done["n"] += count
                else:
                    done["failed"] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done["n"] / (time.perf_counter() - t0), done["failed"]


def new_db(backend: str, tmp: Path) -> tuple[str, callable]:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    scratch = ScratchDatabases(PG_ADMIN)
    url = scratch.create("fhirsvc_bench")

    def drop():
        scratch.drop(url)
        scratch.dispose()
    return url, drop


MEMORY_SCRIPT = r"""
import resource, sys, time, json
sys.path.insert(0, sys.argv[2])
from tests.e2e.test_crash import big_transaction
from fhirsvc.config import Config
from fhirsvc.bootstrap import build
import orjson
runtime = build(Config(database_url=sys.argv[1]))
data = orjson.dumps(big_transaction(2500, "mem"))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
runtime.services.resources.bundle(runtime.context(), data)
dt = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_before_mb": before / 1024, "rss_peak_mb": after / 1024, "seconds": dt}))
"""


def memory_5000(backend: str, tmp: Path) -> dict:
    url, drop = new_db(backend, tmp / "mem")
    (tmp / "mem").mkdir(exist_ok=True)
    upgrade(url)
    try:
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, url, str(ROOT)],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        drop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    items = bundles()
    total = sum(c for _, _, c in items)
    print(f"input: {len(items)} Synthea bundles, {total} resources; rounds={args.rounds}, "
          f"clients={args.clients}, gunicorn workers={args.workers}")
    base_rate = baseline_rate(items, args.rounds)
    print(f"baseline  bare fhir.resources R4B Bundle parse: {base_rate:8.0f} resources/s")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            url, drop = new_db(backend, tmp)
            try:
                upgrade(url)
                srv = Server(url, tmp, workers=args.workers).start()
                try:
                    rate, failed = http_rate(srv.base, items, args.rounds, args.clients)
                finally:
                    srv.stop()
            finally:
                drop()
            mem = memory_5000(backend, tmp)
        print(f"{backend:10s} HTTP ingest (validate+index+store): {rate:8.0f} resources/s  "
              f"ratio to baseline {rate / base_rate:.2f}  failed bundles {failed}")
        print(f"{backend:10s} one 5,000-entry transaction in process: {mem['seconds']:.1f} s, "
              f"peak RSS {mem['rss_peak_mb']:.0f} MB (before: {mem['rss_before_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
