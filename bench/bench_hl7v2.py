"""HL7 v2 benchmarks, each beside its baseline in the same run (interleaved rounds).

    python bench/bench_hl7v2.py convert [--rounds 5 --n 500] [--checkout DIR]
        ORU^R01 with 10 OBX: conversion (parse + mapping to a Bundle) msgs/s beside bare
        python-hl7 parsing of the same bytes, rounds interleaved; the ratio. Rates by the
        process's CPU time (what the machine's other load does not distort) and by the wall
        clock. --checkout: convert with another checkout's fhirsvc (main, as the baseline).
    python bench/bench_hl7v2.py mllp --database-url URL [--senders 8 --n 40]
        MLLP round trips (one ORU stored per message) from 8 concurrent senders: p50 / p95 ms
        and sustained msgs/s, on the database given (SQLite or PostgreSQL).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

def _checkout() -> str:
    """The checkout whose fhirsvc is measured: --checkout DIR, else this one."""
    if "--checkout" in sys.argv:
        return str(Path(sys.argv[sys.argv.index("--checkout") + 1]).resolve())
    return str(Path(__file__).resolve().parent.parent)


sys.path.insert(0, _checkout())

import hl7  # noqa: E402

HEAD = "MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01^ORU_R01|{cid}|P|2.5.1\r" \
       "PID|1||B-{p}^^^HOSPA^MR||Doe^Jane^Q||19520915|F|||1 Main St^^Town^^12345\r" \
       "PV1|1|O|||||||||||||||||V-{p}^^^HOSPA-VN^VN\r" \
       "OBR|1|P{p}^HOSPA-ORD|F{p}^HOSPA-ORD|24362-6^Renal panel^LN|||20240101100000+0100" \
       "||||||||||||||||LAB|F\r"
OBX = "OBX|{i}|NM|17861-6^Calcium^LN||9.{i}|mg/dL^mg/dL^UCUM|8.6-10.3|N|||F|||20240101100000+0100\r"


def oru(cid: str, p: str) -> str:
    return HEAD.format(cid=cid, p=p) + "".join(OBX.format(i=i) for i in range(1, 11))


def bench_convert(rounds: int, n: int) -> None:
    from fhirsvc.hl7v2 import parse
    from fhirsvc.hl7v2.convert import Converter
    conv = Converter()
    raw = oru("C1", "1").encode()
    text = raw.decode().replace("\n", "\r")
    for _ in range(min(n, 50)):   # warm-up: first-use caches, not part of the rate
        hl7.parse(text)
        (m,) = parse(raw)
        conv.convert(m)
    cpu = {"python-hl7 parse": [], "fhirsvc convert": []}
    wall = {k: [] for k in cpu}

    def timed(name, fn):
        c, t = time.process_time(), time.perf_counter()
        fn()
        cpu[name].append(n / (time.process_time() - c))
        wall[name].append(n / (time.perf_counter() - t))

    def bare():
        for _ in range(n):
            hl7.parse(text)

    def ours():
        for _ in range(n):
            (m,) = parse(raw)
            conv.convert(m)
    for _ in range(rounds):
        timed("python-hl7 parse", bare)
        timed("fhirsvc convert", ours)
    import fhirsvc
    print(f"fhirsvc from {Path(fhirsvc.__file__).parent.parent.name}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for k in cpu:
        print(f"{k:18} {statistics.median(cpu[k]):8.0f} msgs/s CPU time, "
              f"{statistics.median(wall[k]):8.0f} msgs/s wall (medians of {rounds} rounds of {n})")
    ratios = [c / p for c, p in zip(cpu["fhirsvc convert"], cpu["python-hl7 parse"])]
    print(f"ratio convert / parse (CPU, round by round): median {statistics.median(ratios):.2f}"
          f" ({min(ratios):.2f}-{max(ratios):.2f})")


def bench_mllp(url: str, senders: int, n: int) -> None:
    from hl7.client import MLLPClient

    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.mllp import MllpServer
    from fhirsvc.storage.migrate import upgrade
    upgrade(url)
    runtime = build(Config(database_url=url))
    loop = asyncio.new_event_loop()
    server = MllpServer(runtime, "127.0.0.1", 0, threads=senders)
    port = loop.run_until_complete(server.start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    stamp = str(time.time_ns())

    def sender(s):
        times = []
        with MLLPClient("127.0.0.1", port) as client:
            for i in range(n):
                msg = oru(f"b{stamp}-{s}-{i}", f"{stamp}-{s}-{i % 5}")
                t = time.perf_counter()
                ack = client.send_message(msg)
                times.append(time.perf_counter() - t)
                assert b"MSA|AA" in ack, ack
        return times
    t0 = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        times = [x for ts in pool.map(sender, range(senders)) for x in ts]
    wall = time.perf_counter() - t0
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000  # noqa: E731
    print(f"{runtime.db.dialect}: {len(times)} ORU (10 OBX) from {senders} senders: "
          f"p50 {p(0.5):.1f} ms, p95 {p(0.95):.1f} ms, sustained {len(times) / wall:.1f} msgs/s")
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    runtime.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["convert", "mllp"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--database-url")
    ap.add_argument("--checkout", help="measure this checkout's fhirsvc (read at import)")
    args = ap.parse_args()
    if args.what == "convert":
        bench_convert(args.rounds, args.n)
    else:
        url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        bench_mllp(url, args.senders, args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
