"""Reindex as a job (batches of N resources, one transaction and checkpoint each) against the
one-transaction `search.reindex` it replaces, on the same database in the same run.

The Synthea bundles are replicated to the target count (as bench_search.py does) and stored
with index extraction on; then the two are run alternately, `--runs` times each. Meanwhile a
writer updates one Patient every 50 ms: the slowest of its writes shows how long the reindex
keeps other writers waiting.

    python bench/bench_reindex.py                         # SQLite and PostgreSQL, 20,000
    python bench/bench_reindex.py --db sqlite --resources 5000 --runs 3 --batch 500
    FHIRSVC_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (admin URL)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import generate  # noqa: E402

from fhirsvc.bootstrap import build  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.jobs import JobQueue, Worker  # noqa: E402
from fhirsvc.search import reindex  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402
from fhirsvc.storage.scratch import ScratchDatabases  # noqa: E402

PG_ADMIN = os.environ.get("FHIRSVC_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def load(runtime, n: int) -> None:
    batch = []
    for item in generate(n):
        batch.append((item[0], item[1], item[2], "PUT"))
        if len(batch) == 1000:
            _store(runtime, batch)
            batch = []
    if batch:
        _store(runtime, batch)


def _store(runtime, items) -> None:
    with runtime.db.unit_of_work(write=True) as uow:
        uow.resources.create_many(items)
        uow.commit()


class Writer(threading.Thread):
    """Updates one Patient every 50 ms: `slowest` is its longest write (seconds), `failed` how
    many writes failed (a deadlock with the reindex: an API request answered with an error)."""

    def __init__(self, runtime):
        super().__init__(daemon=True)
        self.runtime, self.stop, self.slowest, self.failed = runtime, threading.Event(), 0.0, 0
        with runtime.db.unit_of_work() as uow:
            self.rid = next(uow.resources.iter_current("Patient")).resource_id

    def run(self) -> None:
        while not self.stop.wait(0.05):
            t = time.perf_counter()
            try:
                with self.runtime.db.unit_of_work(write=True) as uow:
                    current = uow.resources.read("Patient", self.rid, for_update=True)
                    uow.resources.save("Patient", self.rid, current.resource(), "PUT", current)
                    uow.commit()
            except Exception:
                self.failed += 1
            self.slowest = max(self.slowest, time.perf_counter() - t)


def timed_with_writer(runtime, fn) -> tuple[float, Writer, object]:
    writer = Writer(runtime)
    writer.start()
    time.sleep(0.2)
    t = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t
    writer.stop.set()
    writer.join()
    return elapsed, writer, out


def run(backend: str, resources: int, runs: int, batch: int, pause: float) -> None:
    scratch = None
    if backend == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    else:
        scratch = ScratchDatabases(PG_ADMIN)
        url = scratch.create("fhirsvc_bench")
    try:
        upgrade(url)
        runtime = build(Config(database_url=url))
        t0 = time.perf_counter()
        load(runtime, resources)
        print(f"{backend}: loaded {resources} resources in {time.perf_counter() - t0:.1f} s",
              flush=True)
        queue, worker = JobQueue(runtime.db), Worker(runtime, only=["reindex"])
        one, job, one_w, job_w = [], [], [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits both
            t, writer, count = timed_with_writer(
                runtime, lambda: reindex(runtime.db, runtime.search_registry))
            one.append(t)
            one_w.append(writer)
            queue.enqueue("reindex", {"batch": batch, "pause": pause})
            t, writer, done = timed_with_writer(runtime, worker.run_one)
            job.append(t)
            job_w.append(writer)
            assert done.state == "succeeded" and done.result["indexed"] >= count, done
        a, b = statistics.median(one), statistics.median(job)

        def writes(ws):
            return (f"{statistics.median(w.slowest for w in ws):.2f} s, "
                    f"{sum(w.failed for w in ws)} failed")
        print(f"| {backend} | {resources} | {a:.2f} s ({resources / a:.0f}/s) | "
              f"{b:.2f} s ({resources / b:.0f}/s) | {b / a:.2f} | {writes(one_w)} | "
              f"{writes(job_w)} |")
        print(f"   one transaction: {', '.join(f'{x:.2f}' for x in one)} s; "
              f"job: {', '.join(f'{x:.2f}' for x in job)} s", flush=True)
        runtime.close()
    finally:
        if scratch is not None:
            scratch.drop(url)
            scratch.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--resources", type=int, default=20000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--pause", type=float, default=0.0)
    args = p.parse_args()
    print(f"| database | resources | one transaction (median of {args.runs}) | "
          f"job, batch {args.batch}, pause {args.pause} | job / one | concurrent writes, "
          "slowest (median) and failed: one transaction | job |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    for backend in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(backend, args.resources, args.runs, args.batch, args.pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
