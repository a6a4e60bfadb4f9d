"""Plan cost of each bench_search query shape in PostgreSQL buffers (pages touched), a figure
the machine's load does not move: every statement a search sends is captured and run again
under EXPLAIN (ANALYZE, BUFFERS); shared hit + read blocks are summed per search.

    python bench/search_buffers.py --reuse URL --resources N [--runs 20] [--checkout DIR]

URL: a PostgreSQL database filled by `bench_search.py --keep` with N resources. --checkout:
take fhirsvc (and bench_search's query shapes) from another checkout, so two versions of the
code are compared on the same data. Prints per shape the median and the maximum buffers per
search and the statements per search.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reuse", required=True)
    ap.add_argument("--resources", type=int, required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--checkout", default=str(Path(__file__).resolve().parent.parent))
    args = ap.parse_args()
    root = Path(args.checkout).resolve()
    sys.path[:0] = [str(root), str(root / "bench"), str(root / "tests" / "integration" / "search")]
    import bench_search as bs
    from sqlalchemy import event

    from fhirsvc.search import Indexer, SearchEngine, SearchRegistry
    from fhirsvc.storage import Database

    facts = bs.new_facts()
    for rtype, _rid, res in bs.generate(args.resources):
        bs._facts(facts, rtype, res)
    registry = SearchRegistry.load()
    engine = SearchEngine(registry)
    db = Database(args.reuse, indexer=Indexer(registry))
    captured: list[tuple[str, object]] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("EXPLAIN"):
            captured.append((statement, parameters))

    print(f"{'query (PostgreSQL, ' + str(args.resources) + ')':36} {'buffers p50':>12} "
          f"{'max':>8} {'statements':>10}")
    for name, make in bs.queries(facts).items():
        per_search, statements = [], []
        for _ in range(args.runs):
            rtype, params = make()
            captured.clear()
            with db.unit_of_work() as uow:
                engine.search(uow, rtype, params, base_url=bs.BASE)
            # queries only (a chain walk's batch is a WITH ... SELECT)
            todo = [(s, p) for s, p in captured
                    if s.lstrip().upper().startswith(("SELECT", "WITH"))]
            total = 0
            with db.engine.connect() as conn:
                raw = conn.connection.driver_connection
                for statement, parameters in todo:
                    cur = raw.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement,
                                      parameters)
                    plan = cur.fetchone()[0]
                    plan = json.loads(plan) if isinstance(plan, str) else plan
                    top = plan[0]["Plan"]
                    total += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
                raw.rollback()
            per_search.append(total)
            statements.append(len(todo))
        print(f"{name:36} {statistics.median(per_search):12.0f} {max(per_search):8.0f} "
              f"{statistics.median(statements):10.0f}")
    db.dispose()


if __name__ == "__main__":
    main()
