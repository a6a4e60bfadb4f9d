"""HL7 v2 benchmarks, each beside its baseline in the same run (interleaved rounds).

    python bench/bench_hl7v2.py convert [--rounds 5 --n 500] [--checkout DIR]
        ORU^R01 with 10 OBX: conversion (parse + mapping to a Bundle) msgs/s beside bare
        python-hl7 parsing of the same bytes, rounds interleaved; the ratio. Rates by the
        process's CPU time (what the machine's other load does not distort) and by the wall
        clock. --checkout DIR (or --root DIR): convert with another checkout's fhirsvc (main,
        as the baseline).
    python bench/bench_hl7v2.py mllp --database-url URL [--senders 8 --n 40 --processes N
                                     --warmup W]
        MLLP round trips (one ORU stored per message) from 8 concurrent senders: p50 / p95 ms,
        sustained msgs/s and CPU per message (the listener's process, its worker processes
        with --processes N), on the database given (SQLite or PostgreSQL). `--root DIR` runs
        the fhirsvc of another checkout (a baseline) with this script. `--rate R`: open loop,
        R msgs/s per sender, each timed from when it was due. `--trace DIR`: the
        stages of every message (bench/mllp_trace.py), the slowest 5% beside the rest.
    python bench/bench_hl7v2.py process [--database-url URL --rounds 5 --n 20 --root DIR]
        In process: CPU per stored ORU (new results; the same content again under a new
        control id) and database statements per message (COPY streams on PostgreSQL are not
        statements here). The definitions are frozen out of the collector first, as the
        listener does (`mllp.settle`).
    python bench/bench_hl7v2.py pauses [--database-url URL --n 600 --root DIR]
        In process, one thread: full collections and COMMITs over n ORU (count, total, max;
        wall and CPU), the pauses every message in flight waits behind under 8 senders.
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
    """The checkout whose fhirsvc is measured: --root DIR or --checkout DIR, else this one."""
    for flag in ("--root", "--checkout"):
        for i, a in enumerate(sys.argv[1:], 1):
            if a == flag and i + 1 < len(sys.argv):
                return str(Path(sys.argv[i + 1]).resolve())
            if a.startswith(flag + "="):
                return str(Path(a.split("=", 1)[1]).resolve())
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


def _cpu(pids) -> float:
    """CPU seconds used so far by this process and the given child processes (Linux /proc)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick   # utime, stime
    return total


def bench_mllp(url: str, senders: int, n: int, processes: int = 1, warmup: int = 0,
               trace: str | None = None, threads: int = 0, rate: float = 0.0) -> None:
    import gc

    from hl7.client import MLLPClient

    import fhirsvc.mllp as mllp
    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    upgrade(url)
    runtime = build(Config(database_url=url))
    loop = asyncio.new_event_loop()
    kw = {"processes": processes} if processes > 1 else {}
    threads = threads or senders
    server = mllp.MllpServer(runtime, "127.0.0.1", 0, threads=threads, **kw)
    if trace:   # per-message stage timestamps (bench/mllp_trace.py)
        import mllp_trace
        mllp_trace.set_dir(trace)
    port = loop.run_until_complete(server.start())
    if trace:
        mllp_trace.install_listener(server)
    sent: dict[str, tuple[float, float, float]] = {}
    if hasattr(mllp, "settle"):   # what `python -m fhirsvc mllp` does after start-up
        mllp.settle()
    else:
        gc.collect()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    pids = server.workers.pids if getattr(server, "workers", None) is not None else []
    stamp = str(time.time_ns())

    def sender(s, tag="b", count=n):
        times = []
        with MLLPClient("127.0.0.1", port) as client:
            due = time.perf_counter() + (s / (rate * senders) if rate else 0.0)
            for i in range(count):
                msg = oru(f"{tag}{stamp}-{s}-{i}", f"{tag}{stamp}-{s}-{i % 5}")
                if rate and tag == "b":   # open loop: sent when due (at once when late) ...
                    time.sleep(max(0.0, due - time.perf_counter()))
                t, c = time.perf_counter(), time.thread_time()
                ack = client.send_message(msg)
                # ... and timed from when it was due, so a late send counts its lateness
                times.append(time.perf_counter() - (min(t, due) if rate else t))
                due += 1.0 / rate if rate else 0.0
                if tag == "b":
                    sent[f"{tag}{stamp}-{s}-{i}"] = (t, t + times[-1], time.thread_time() - c)
                assert b"MSA|AA" in ack, ack
        return times
    if warmup:   # not counted: first-time work of each process (caches, compiled statements)
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(lambda s: sender(s, "w", warmup), range(senders)))
    t0, c0 = time.perf_counter(), _cpu(pids)
    with ThreadPoolExecutor(senders) as pool:
        times = [x for ts in pool.map(sender, range(senders)) for x in ts]
    wall, cpu = time.perf_counter() - t0, _cpu(pids) - c0
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000  # noqa: E731
    offered = f", open loop at {rate:g} msgs/s per sender" if rate else ", closed loop"
    print(f"{runtime.db.dialect}: {len(times)} ORU (10 OBX) from {senders} senders{offered}, "
          f"{processes} process(es): p50 {p(0.5):.1f} ms, p95 {p(0.95):.1f} ms, sustained "
          f"{len(times) / wall:.1f} msgs/s, CPU {1000 * cpu / len(times):.1f} ms/msg "
          f"(load {os.getloadavg()[0]:.1f})")
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    runtime.close()
    if trace:
        mllp_trace.dump()   # the listener's events beside the workers', and what was sent
        Path(trace, "sent.json").write_text(__import__("json").dumps(sent))
        print(mllp_trace.report(mllp_trace.load(trace), sent))


def bench_process(url: str, rounds: int, n: int) -> None:
    """In process, no network: CPU per ORU through `Hl7v2Service.process` for new results (a new
    patient each message) and for the same content sent again under a new control id, and the
    database statements each takes; rounds alternate the two."""
    import gc

    from sqlalchemy import event

    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    upgrade(url)
    runtime = build(Config(database_url=url))
    try:   # what the listener does after start-up (gc.freeze of the loaded definitions)
        from fhirsvc.mllp import settle
        settle()
    except ImportError:
        gc.collect()
    svc, ctx = runtime.services.hl7v2, runtime.context(door="mllp")
    statements = [0]
    event.listen(runtime.db.engine, "before_cursor_execute",
                 lambda *a: statements.__setitem__(0, statements[0] + 1))
    stamp = str(time.time_ns())
    figures: dict[str, list[tuple[float, float]]] = {"new": [], "same again": []}
    for r in range(rounds + 1):                  # round 0: warm-up, not counted
        for kind in figures:
            msgs = [oru(f"{stamp}-{r}-{kind}-{i}", f"{stamp}-{r}-{i}" if kind == "new"
                        else f"{stamp}-same") for i in range(n)]
            statements[0], c0 = 0, time.process_time()
            for m in msgs:
                assert svc.process(ctx, m).code == "AA"
            if r:
                figures[kind].append((1000 * (time.process_time() - c0) / n, statements[0] / n))
    for kind, rows in figures.items():
        cpu = sorted(c for c, _ in rows)
        print(f"{runtime.db.dialect} {kind:10}: CPU {statistics.median(cpu):.1f} ms/msg (min "
              f"{cpu[0]:.1f}, max {cpu[-1]:.1f}, {rounds} rounds of {n}), "
              f"{rows[-1][1]:.1f} statements/msg (load {os.getloadavg()[0]:.1f})")
    runtime.close()


def bench_pauses(url: str, n: int) -> None:
    """In process, one thread, no network: the pauses that hold up every message in flight
    when 8 senders wait: full collections (wall and CPU, from gc.callbacks) and COMMITs (SQLite
    checkpoints in line when the log crosses its mark), over n ORU of the mllp pattern (each
    patient's results twice), after 30 not counted."""
    import gc

    from sqlalchemy.engine.base import RootTransaction

    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    upgrade(url)
    runtime = build(Config(database_url=url))
    from fhirsvc.mllp import settle
    settle()
    svc, ctx = runtime.services.hl7v2, runtime.context(door="mllp")
    full: list[tuple[float, float]] = []
    commits: list[tuple[float, float]] = []
    started: list[tuple[float, float]] = []
    counting = [False]

    def on_gc(phase, info):
        if phase == "start":
            started[:] = [(time.perf_counter(), time.thread_time())]
        elif info["generation"] == 2 and counting[0] and started:
            (t, c), = started
            full.append((time.perf_counter() - t, time.thread_time() - c))
    gc.callbacks.append(on_gc)
    commit = RootTransaction.commit

    def timed_commit(self):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return commit(self)
        finally:
            if counting[0]:
                commits.append((time.perf_counter() - t, time.thread_time() - c))
    RootTransaction.commit = timed_commit
    stamp = str(time.time_ns())
    for i in range(30 + n):
        counting[0] = i >= 30
        assert svc.process(ctx, oru(f"{stamp}-{i}", f"{stamp}-{i // 10}-{i % 5}")).code == "AA"
    gc.callbacks.remove(on_gc)
    RootTransaction.commit = commit
    ms = lambda xs: f"{1000 * sum(xs):.1f} ms, max {1000 * max(xs, default=0):.1f}"  # noqa
    print(f"{runtime.db.dialect}: {n} ORU; full collections {len(full)}: wall "
          f"{ms([w for w, _ in full])}, CPU {ms([c for _, c in full])}; commits "
          f"{len(commits)}: over 2 ms wall {sum(w > 0.002 for w, _ in commits)} (wall {ms([w for w, _ in commits])}), over 1 ms "
          f"CPU {sum(c > 0.001 for _, c in commits)} (CPU {ms([c for _, c in commits])}) "
          f"(load {os.getloadavg()[0]:.1f})")
    runtime.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["convert", "mllp", "process", "pauses"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--database-url")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=0, help="messages per sender first, not "
                    "counted")
    ap.add_argument("--rate", type=float, default=0.0, help="mllp: open loop, each sender "
                    "sends this many msgs/s (timed from when each was due); 0: closed loop")
    ap.add_argument("--threads", type=int, default=0, help="mllp: the listener's threads "
                    "(default: one per sender)")
    ap.add_argument("--trace", metavar="DIR", help="mllp: per-message stage timestamps "
                    "(bench/mllp_trace.py), worker processes' written to DIR; the breakdown")
    ap.add_argument("--root", help="the checkout whose fhirsvc runs (default: this one)")
    ap.add_argument("--checkout", help="measure this checkout's fhirsvc (read at import)")
    args = ap.parse_args()
    if args.what == "convert":
        bench_convert(args.rounds, args.n)
    else:
        url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        if args.what == "process":
            bench_process(url, args.rounds, args.n)
        elif args.what == "pauses":
            bench_pauses(url, args.n)
        else:
            bench_mllp(url, args.senders, args.n, args.processes, args.warmup, args.trace,
                       args.threads, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
