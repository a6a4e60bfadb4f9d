"""Fill a database with the search benchmark's data set through the bulk loader
(fhirsvc.storage.bulk_load), for `bench_search.py --reuse` at 10k / 100k / 1M resources.

    python bench/bulk_load.py --url sqlite:///instance/scale_1m.db --resources 1000000
    python bench/bulk_load.py --url postgresql+psycopg://postgres@127.0.0.1:5432/scale_1m_pg \
        --create --resources 1000000
    python bench/bulk_load.py ... --compare 20000     # also time the repository path (baseline)

The resources are `bench_search.generate(n)` (the Synthea set replicated under new ids), so
`bench_search.py --reuse URL --resources n` knows the same facts. `--create` creates the
PostgreSQL database (dropped first if it exists); the schema is migrated in any case.
`--compare n`: before the bulk load, load n resources into a scratch database through the
repository path (`bench_search.ingest`, 1,000 per transaction) and n through the bulk loader,
interleaved, and print both rates (the baseline of the same run).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_search import generate, ingest  # noqa: E402

from fhirsvc.search import Indexer, SearchRegistry  # noqa: E402
from fhirsvc.storage import Database  # noqa: E402
from fhirsvc.storage.bulk_load import BulkLoader  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402


def _admin(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return base + "/postgres", name


def create_pg(url: str) -> None:
    from sqlalchemy import create_engine
    admin, name = _admin(url)
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()


def drop_pg(url: str) -> None:
    from sqlalchemy import create_engine
    admin, name = _admin(url)
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    eng.dispose()


def fresh(url: str) -> None:
    if url.startswith("postgresql"):
        create_pg(url)
    else:
        path = Path(url.split("///", 1)[1])
        for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
            p.unlink(missing_ok=True)
    upgrade(url)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--resources", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--create", action="store_true", help="(re)create the database first")
    ap.add_argument("--compare", type=int, default=0, metavar="N")
    ap.add_argument("--part", metavar="K/M",
                    help="load only the K-th of M equal parts of the resources after --skip, "
                    "into an existing database, indexes left as they are (loaders side by "
                    "side); then run once with --finish")
    ap.add_argument("--skip", type=int, default=0,
                    help="with --part: the first N resources are stored already")
    ap.add_argument("--finish", action="store_true",
                    help="build the missing search indexes and VACUUM ANALYZE, nothing else")
    args = ap.parse_args()
    registry = SearchRegistry.load()
    indexer = Indexer(registry)
    if args.compare:
        scratch = args.url + "_cmp" if args.url.startswith("postgresql") \
            else args.url[:-3] + "_cmp.db"
        for label in ("repository (baseline)", "bulk loader", "repository (baseline)",
                      "bulk loader"):
            fresh(scratch)
            db = Database(scratch, indexer=indexer)
            t = time.perf_counter()
            if label.startswith("repository"):
                ingest(db, args.compare)
            else:
                BulkLoader(db, batch=args.batch, analyze=False).load(generate(args.compare))
            secs = time.perf_counter() - t
            db.dispose()
            print(f"{label:24} {args.compare} resources {secs:7.1f} s "
                  f"{args.compare / secs:7.0f} resources/s", flush=True)
        if scratch.startswith("postgresql"):
            drop_pg(scratch)
        else:
            Path(scratch.split("///", 1)[1]).unlink(missing_ok=True)
    if args.finish or args.part:
        import itertools
        db = Database(args.url, indexer=indexer)
        if args.finish:
            secs = BulkLoader(db).finish()
            print(f"indexes built + VACUUM ANALYZE: {secs:.1f} s")
            return
        k, m = (int(x) for x in args.part.split("/"))
        size = -(-(args.resources - args.skip) // m)
        lo = args.skip + (k - 1) * size
        hi = min(args.resources, lo + size)
        t0 = time.perf_counter()
        loader = BulkLoader(db, batch=args.batch, defer_indexes=False, analyze=False)
        result = loader.load(itertools.islice(generate(args.resources), lo, hi))
        print(f"part {k}/{m}: resources {lo}..{hi}: {result.loaded} in "
              f"{time.perf_counter() - t0:.1f} s ({result.per_second:.0f}/s)")
        return
    if args.create or not args.url.startswith("postgresql"):
        fresh(args.url)
    else:
        upgrade(args.url)
    db = Database(args.url, indexer=indexer)
    t0 = time.perf_counter()

    def progress(n):
        if n % 100_000 < args.batch:
            el = time.perf_counter() - t0
            print(f"  {n:>9} resources {el:7.1f} s ({n / el:.0f}/s)", flush=True)
    result = BulkLoader(db, batch=args.batch, progress=progress).load(generate(args.resources))
    db.dispose()
    print(f"bulk load: {result.loaded} resources in {result.seconds:.1f} s "
          f"({result.per_second:.0f} resources/s; of which indexes built after + VACUUM "
          f"ANALYZE {result.index_seconds:.1f} s; deferred indexes: {result.deferred_indexes})")


if __name__ == "__main__":
    main()
