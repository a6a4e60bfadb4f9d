"""The write gate's lock file between two processes handing it back and forth.

    PYTHONPATH=. python bench/bench_gate_file.py [--root DIR] [--n 300]

Each process takes the file (`storage.write_gate.FileLock`), holds it 3 ms, lets go, waits
2 ms, n times: with a perfect hand-over the file is never idle (one process's 2 ms gap is
inside the other's hold). Prints acquisitions/s, the share of the time the file stood idle
and the mean wait. `--root DIR`: another checkout's FileLock (the baseline).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time

HOLD, GAP = 0.003, 0.002


def _worker(root: str, path: str, n: int, out) -> None:
    sys.path.insert(0, root)
    from fhirsvc.storage.write_gate import FileLock
    lock, waits = FileLock(path), []
    for _ in range(n):
        t = time.perf_counter()
        lock.acquire(60)
        waits.append(time.perf_counter() - t)
        time.sleep(HOLD)
        lock.release()
        time.sleep(GAP)
    out.put(waits)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    path = os.path.join(tempfile.mkdtemp(), "gate")
    out = mp.Queue()
    procs = [mp.Process(target=_worker, args=(args.root, path, args.n, out)) for _ in range(2)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    waits = out.get() + out.get()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t
    idle = 1 - 2 * args.n * HOLD / elapsed
    print(f"{os.path.basename(os.path.abspath(args.root))}: {2 * args.n / elapsed:.0f} "
          f"acquisitions/s, file idle {100 * idle:.0f}% of {elapsed:.2f} s, mean wait "
          f"{1000 * sum(waits) / len(waits):.2f} ms (load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
