"""The upgrade of a database filled at migration 0013 to head, with the work the upgrade queues
(migration 0014's reindex) run to the end: how long until versioned reference search is right.

    python bench/bulk_load.py --url sqlite:///at0013.db --resources 100000   # in a checkout
                                                                             # at 0013
    cp at0013.db a.db && python bench/bench_upgrade_0014.py --url sqlite:///a.db
    cp at0013.db b.db && python bench/bench_upgrade_0014.py --url sqlite:///b.db --checkout MAIN

Each run needs its own copy (the upgrade changes the database). `--checkout DIR`: upgrade with
another checkout's fhirsvc (the baseline), read at import. Prints one JSON line: the upgrade's
and the queued jobs' process CPU seconds and wall seconds, and how many resources they read.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _checkout() -> str:
    if "--checkout" in sys.argv:
        return str(Path(sys.argv[sys.argv.index("--checkout") + 1]).resolve())
    return str(Path(__file__).resolve().parent.parent)


sys.path.insert(0, _checkout())

import argparse  # noqa: E402
import tempfile  # noqa: E402

from fhirsvc.bootstrap import build  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.jobs import Worker  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="a database at migration 0013 (a copy)")
    ap.add_argument("--checkout", help="the checkout whose fhirsvc upgrades (default: this one)")
    args = ap.parse_args()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    upgrade(args.url)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    rt = build(Config(database_url=args.url, examples_dir=Path(tempfile.mkdtemp())))
    jobs = []
    try:
        worker = Worker(rt, only=["reindex"])
        while (job := worker.run_one()) is not None:
            jobs.append({"id": job.id, "state": job.state, "params": job.params,
                         "result": job.result})
    finally:
        rt.close()
    wall2, cpu2 = time.perf_counter(), time.process_time()
    print(json.dumps({"checkout": _checkout(), "upgrade_cpu_s": round(cpu1 - cpu0, 2),
                      "upgrade_wall_s": round(wall1 - wall0, 2),
                      "jobs_cpu_s": round(cpu2 - cpu1, 2), "jobs_wall_s": round(wall2 - wall1, 2),
                      "total_cpu_s": round(cpu2 - cpu0, 2), "total_wall_s": round(wall2 - wall0, 2),
                      "jobs": jobs}))


if __name__ == "__main__":
    main()
