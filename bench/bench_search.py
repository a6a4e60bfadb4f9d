"""Search latency at scale: p50/p95 of typical queries over ~100,000 resources.

The Synthea bundles (shared conformance material, read in place) are replicated under new ids
(`<uuid>-<copy>`, references and identifiers rewritten) until the target count, stored through
the repository with index extraction on (1,000 resources per transaction), then each query
shape runs with varying parameters through `SearchEngine.search` (SQL + Bundle building).
Baseline in the same process: `Repository.read` of one resource by type and id.

    python bench/bench_search.py                      # SQLite and PostgreSQL, 100,000 resources
    python bench/bench_search.py --db sqlite --resources 20000 --runs 100
    python bench/bench_search.py --db postgresql --keep    # keep the database, then:
    python bench/bench_search.py --reuse postgresql+psycopg://postgres@127.0.0.1:5432/<name>
    python bench/bench_search.py --db sqlite --keep        # keeps the file (URL printed)
    python bench/bench_search.py --reuse URL --resources N --work 20   # + database work
Databases of 10k-1M resources are filled faster by bench/bulk_load.py (same data set).
After loading: VACUUM (ANALYZE) on PostgreSQL (`--no-vacuum`: ANALYZE only), ANALYZE on SQLite.
    FHIRSVC_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (admin URL)
A database filled once can be queried by two versions of the code (`--reuse` from each
checkout, runs interleaved): the schema and the index rows are the same. `--reuse` needs only
the long-standing interfaces (SearchEngine, Indexer, Database), so this harness also runs
over an older checkout's fhirsvc/ copied beside it (bench/RESULTS.md, search).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "search"))

import synthea  # noqa: E402

from fhirsvc.search import Indexer, SearchEngine, SearchRegistry  # noqa: E402
from fhirsvc.storage import Database  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BASE = "http://bench/fhir"


def generate(target: int):
    """Yield (type, id, resource) copies of the Synthea set until `target` resources."""
    template = synthea.load()
    blob = orjson.dumps([[t, i, r] for t, i, r in template])
    n, copy = 0, 0
    while n < target:
        suffix = f"-{copy}".encode()
        data = orjson.loads(UUID.sub(lambda m: m.group(0) + suffix, blob))
        for rtype, rid, res in data:
            if n >= target:
                return
            yield rtype, rid, res
            n += 1
        copy += 1


def _facts(facts: dict, rtype: str, res: dict) -> None:
    if rtype == "Patient":
        facts["patients"].append(res["id"])
        facts["families"].append(res["name"][0]["family"])
        ident = res["identifier"][1]
        facts["identifiers"].append(f"{ident['system']}|{ident['value']}")
    elif rtype == "Observation" and "effectiveDateTime" in res:
        facts["months"].add(res["effectiveDateTime"][:7])


def new_facts() -> dict:
    return {"patients": [], "families": [], "identifiers": [], "months": set()}


def ingest(db: Database, target: int, batch: int = 1000) -> tuple[float, dict]:
    facts = new_facts()
    start = time.perf_counter()
    pending = []

    def flush():
        with db.unit_of_work(write=True) as uow:
            for rtype, rid, res in pending:
                uow.resources.save(rtype, rid, res, "PUT", None)
            uow.commit()
        pending.clear()
    for rtype, rid, res in generate(target):
        _facts(facts, rtype, res)
        pending.append((rtype, rid, res))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return time.perf_counter() - start, facts


def analyze(db: Database, vacuum: bool = True) -> None:
    """The production load procedure after a bulk load: fresh planner statistics (ANALYZE) and,
    on PostgreSQL, VACUUM so the visibility map is set and the covering search indexes are
    read index-only (no heap fetch per row; autovacuum does the same later, when enabled)."""
    db.analyze(vacuum)


def queries(facts: dict) -> dict:
    pats, fams, idents = facts["patients"], sorted(set(facts["families"])), facts["identifiers"]
    months = sorted(facts["months"])
    rnd = random.Random(7)
    return {
        "token+reference": lambda: ("Observation", [
            ("patient", rnd.choice(pats)), ("code", "http://loinc.org|8302-2")]),
        "date range (1 month)": lambda: ("Observation", [
            ("date", "ge" + (m := rnd.choice(months)) + "-01"),
            ("date", "lt" + m + "-15")]),
        "date range + patient": lambda: ("Observation", [
            ("patient", rnd.choice(pats)), ("date", "ge2014"), ("date", "lt2018")]),
        "chained (identifier)": lambda: ("Observation", [
            ("subject:Patient.identifier", rnd.choice(idents))]),
        "chained (family) + code": lambda: ("Observation", [
            ("subject:Patient.family", rnd.choice(fams)), ("code", "8302-2"),
            ("_total", "none")]),
        "_include subject+encounter": lambda: ("Observation", [
            ("patient", rnd.choice(pats)), ("_include", "Observation:subject"),
            ("_include", "Observation:encounter")]),
        "_revinclude (Patient<-Encounter)": lambda: ("Patient", [
            ("_id", rnd.choice(pats)), ("_revinclude", "Encounter:patient")]),
        "string (family prefix)": lambda: ("Patient", [("family", rnd.choice(fams)[:4])]),
    }


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


class WorkMeter:
    """Database work of one search, independent of other load on the machine: on PostgreSQL
    the shared buffers (8 kB pages) its statements touch (each statement run again under
    EXPLAIN (ANALYZE, BUFFERS); a top node's count includes its children's), on SQLite the
    virtual-machine steps (a progress handler called every 100 steps)."""

    def __init__(self, db: Database):
        from sqlalchemy import event
        self.db = db
        self.pg = db.dialect == "postgresql"
        self.capture: list | None = None
        self.steps = 0
        if self.pg:
            @event.listens_for(db.engine, "before_cursor_execute")
            def _seen(conn, cursor, statement, parameters, context, executemany):
                if self.capture is not None and not executemany:
                    self.capture.append((statement, parameters))
        else:
            db.engine.dispose()   # connections made from now on count their steps

            @event.listens_for(db.engine, "connect")
            def _on_connect(dbapi_conn, _record):
                def step():
                    self.steps += 1
                    return 0
                dbapi_conn.set_progress_handler(step, 100)

    def measure(self, fn) -> int:
        if not self.pg:
            before = self.steps
            fn()
            return (self.steps - before) * 100
        self.capture = []
        try:
            fn()
        finally:
            seen, self.capture = self.capture, None
        total = 0
        raw = self.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            for statement, parameters in seen:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
                plan = cur.fetchone()[0][0]["Plan"]
                total += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
            raw.rollback()
        finally:
            raw.close()
        return total


def work(db: Database, engine: SearchEngine, facts: dict, samples: int) -> dict[str, tuple]:
    """(median, max) database work per query shape over `samples` searches (WorkMeter)."""
    meter = WorkMeter(db)
    out = {}
    rnd = random.Random(3)

    def read():
        with db.unit_of_work() as uow:
            uow.resources.read("Patient", rnd.choice(facts["patients"])).resource()
    vals = [meter.measure(read) for _ in range(samples)]
    out["baseline: read Patient by id"] = (statistics.median(vals), max(vals))
    for name, make in queries(facts).items():
        vals = []
        for _ in range(samples):
            rtype, params = make()

            def search():
                with db.unit_of_work() as uow:
                    engine.search(uow, rtype, params, base_url=BASE)
            vals.append(meter.measure(search))
        out[name] = (statistics.median(vals), max(vals))
    return out


def run(db: Database, engine: SearchEngine, facts: dict, runs: int) -> list[tuple]:
    """(query, p50 s, p95 s, p50 client CPU s, mean entries, p50 / baseline p50) per shape.
    Client CPU (this process: parsing, SQL building, driver, Bundle) is the figure least
    moved by other load on a shared machine; the database's own work is wall minus CPU."""
    out = []
    # baseline: read by id
    rnd = random.Random(3)
    times, cpus = [], []
    for _ in range(runs):
        pid = rnd.choice(facts["patients"])
        t, c = time.perf_counter(), time.process_time()
        with db.unit_of_work() as uow:
            uow.resources.read("Patient", pid).resource()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    base_p50 = statistics.median(times)
    out.append(("baseline: read Patient by id", base_p50, pct(times, 95),
                statistics.median(cpus), 1, 1.0))
    for name, make in queries(facts).items():
        times, cpus, sizes = [], [], []
        for i in range(runs + 5):
            rtype, params = make()
            t, c = time.perf_counter(), time.process_time()
            with db.unit_of_work() as uow:
                b = engine.search(uow, rtype, params, base_url=BASE)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if i >= 5:  # warm-up
                times.append(dt)
                cpus.append(dc)
                sizes.append(len(b.get("entry", [])))
        p50 = statistics.median(times)
        out.append((name, p50, pct(times, 95), statistics.median(cpus),
                    statistics.mean(sizes), p50 / base_p50))
    return out


def report(backend: str, rows: list[tuple], units: dict | None = None) -> None:
    unit = "pg buffers" if backend == "postgresql" else "sqlite steps"
    extra = f" {unit + ' p50':>17} {'max':>9}" if units else ""
    print(f"{backend:36} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms':>8} {'entries':>8} "
          f"{'p50/baseline':>13}{extra}")
    for qname, p50, p95, cpu, size, ratio in rows:
        w = f" {units[qname][0]:17.0f} {units[qname][1]:9.0f}" if units else ""
        print(f"{qname:36} {p50 * 1000:8.2f} {p95 * 1000:8.2f} {cpu * 1000:8.2f} {size:8.1f} "
              f"{ratio:13.1f}{w}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--resources", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--reuse", metavar="URL",
                    help="query an existing database filled by this script (same --resources)")
    ap.add_argument("--no-vacuum", action="store_true",
                    help="after loading, ANALYZE only (no VACUUM) on PostgreSQL")
    ap.add_argument("--work", type=int, default=0, metavar="N",
                    help="also measure the database work of N searches per shape (PostgreSQL "
                    "buffers, SQLite VM steps: independent of other load), after the timing")
    ap.add_argument("--keep", action="store_true",
                    help="keep the database (URL printed) for later --reuse runs")
    args = ap.parse_args()
    registry = SearchRegistry.load()
    engine = SearchEngine(registry)
    if args.reuse:
        facts = new_facts()
        for rtype, _rid, res in generate(args.resources):
            _facts(facts, rtype, res)
        db = Database(args.reuse, indexer=Indexer(registry))
        rows = run(db, engine, facts, args.runs)
        report(db.dialect, rows, work(db, engine, facts, args.work) if args.work else None)
        return
    from fhirsvc.storage.scratch import ScratchDatabases
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for backend in backends:
        scratch = None
        tmp = None
        if backend == "sqlite":
            if args.keep:
                folder = tempfile.mkdtemp(prefix="fhirsvc_bench_")
            else:
                tmp = tempfile.TemporaryDirectory()
                folder = tmp.name
            url = f"sqlite:///{folder}/bench.db"
        else:
            scratch = ScratchDatabases(os.environ.get(
                "FHIRSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
            url = scratch.create("fhirsvc_bench")
        try:
            upgrade(url)
            db = Database(url, indexer=Indexer(registry))
            secs, facts = ingest(db, args.resources)
            analyze(db, vacuum=not args.no_vacuum)
            print(f"\n{backend}: {args.resources} resources stored and indexed in {secs:.1f} s "
                  f"({args.resources / secs:.0f} resources/s, repository level, 1,000 per "
                  f"transaction)")
            rows = run(db, engine, facts, args.runs)
            report(backend, rows, work(db, engine, facts, args.work) if args.work else None)
            db.dispose()
        finally:
            if args.keep:
                print(f"kept: {url}")
            elif scratch is not None:
                scratch.drop(url)
            if scratch is not None:
                scratch.dispose()
            if tmp is not None:
                tmp.cleanup()


if __name__ == "__main__":
    main()
