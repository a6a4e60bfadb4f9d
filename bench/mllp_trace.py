"""Per-message stage timestamps of the MLLP listener, for `bench_hl7v2.py mllp --trace DIR`.

Wraps a dozen functions of the listener (and, with worker processes, of each worker) so that
every message leaves one line per stage: the wall interval (time.perf_counter, one monotonic
clock for every process of the machine) and the thread CPU time spent in it; collector pauses
(gc.callbacks) are recorded the same way. Nothing here changes what the listener does.

    frame read      the sender's write -> the listener hands the frame to its pool
    queue           pool hand-off -> a thread starts on the message (`MllpServer._process`)
    ipc             (worker processes) the listener's hand-off -> the worker starts on it
    resend look     the log look-up of the control id (its own read transaction)
    convert         parse + mapping
    validate        the validator (and the re-validation of a merge inside the transaction)
    gate wait       waiting for the write gate (in-process turn + `flock wait` between
                    processes) and BEGIN IMMEDIATE
    held            the write transaction's statements and work before commit()
    commit          index rows (`index rows`) + COMMIT
    release         rollback check, connection back to the pool, the gate let go
    ack back        the stored ACK -> the listener writes it (`frame()`)
    ack read        the listener's write -> the sender has read it

Spans carry the control id of the message their thread works on (a thread-local set at the
start of `_process` / the worker's `_store`).
"""
from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path

_local = threading.local()
EVENTS: list[tuple] = []          # (pid, thread, cid, name, start, end, cpu)
_DIR: Path | None = None


def _cid_of(payload: bytes) -> str:
    msh = payload.split(b"\r", 1)[0]
    parts = msh.split(b"|")
    return parts[9].decode() if len(parts) > 9 else ""


def _record(name, t0, t1, cpu, cid=None):
    EVENTS.append((os.getpid(), threading.get_ident(),
                   cid if cid is not None else getattr(_local, "cid", None), name, t0, t1, cpu))


def _span(owner, attr, name):
    fn = getattr(owner, attr)

    def wrapped(*a, **kw):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            _record(name, t0, time.perf_counter(), time.thread_time() - c0)
    wrapped.__wrapped__ = fn
    setattr(owner, attr, wrapped)


_gc_start = {}


def _gc(phase, info):
    t = time.perf_counter()
    if phase == "start":
        _gc_start[threading.get_ident()] = (t, time.thread_time())
    else:
        t0, c0 = _gc_start.pop(threading.get_ident(), (t, time.thread_time()))
        _record(f"gc{info['generation']}", t0, t, time.thread_time() - c0)


def install_common() -> None:
    """The stages of storing a message (in the listener or in a worker process)."""
    from fhirsvc.services.hl7v2 import Hl7v2Service
    from fhirsvc.storage.unit_of_work import UnitOfWork
    from fhirsvc.storage.write_gate import FileLock, WriteGate
    from fhirsvc.validation import Validator
    _span(Hl7v2Service, "_accepted_before", "resend look")
    _span(Hl7v2Service, "_convert", "convert")
    _span(Validator, "validate", "validate")
    _span(UnitOfWork, "__enter__", "uow enter")
    _span(UnitOfWork, "flush_index", "index rows")
    _span(UnitOfWork, "commit", "commit")
    _span(UnitOfWork, "__exit__", "release")
    _span(WriteGate, "acquire", "gate acquire")
    _span(FileLock, "acquire", "flock wait")
    gc.callbacks.append(_gc)


def install_listener(server) -> None:
    """The listener's own stages: hand-off to the pool, the thread's start and end, the ACK
    written; with worker processes, their stages too (through the pool's functions)."""
    import fhirsvc.mllp as mllp
    import fhirsvc.mllp_pool as pool_mod
    install_common()
    submit = server.pool.submit

    def traced_submit(fn, *args, **kw):
        if args and isinstance(args[0], (bytes, bytearray)):
            t = time.perf_counter()
            _record("handed", t, t, 0.0, _cid_of(args[0]))
        return submit(fn, *args, **kw)
    server.pool.submit = traced_submit
    process = server._process

    def traced_process(payload, peer=None):
        _local.cid = _cid_of(payload)
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return process(payload, peer)
        finally:
            _record("process", t0, time.perf_counter(), time.thread_time() - c0)
            _local.cid = None
    server._process = traced_process
    frame = mllp.frame

    def traced_frame(payload):
        t = time.perf_counter()
        for seg in payload.split(b"\r"):
            if seg.startswith(b"MSA|"):
                _record("ack written", t, t, 0.0, seg.split(b"|")[2].decode())
        return frame(payload)
    mllp.frame = traced_frame
    pool_mod._store = worker_store


def set_dir(path: str) -> None:
    global _DIR
    _DIR = Path(path)
    os.environ["FHIRSVC_BENCH_TRACE_DIR"] = path   # inherited by spawned workers


def worker_store(ctx, payload: bytes) -> bytes:
    """Runs in a worker process (pickled by reference): the pool's `_store`, traced."""
    import fhirsvc.mllp_pool as pool_mod
    if not getattr(_local, "installed", False):
        install_common()
        _local.installed = True
        global _DIR
        _DIR = Path(os.environ["FHIRSVC_BENCH_TRACE_DIR"])
    real = pool_mod._store.__wrapped__ if hasattr(pool_mod._store, "__wrapped__") \
        else pool_mod._store
    _local.cid = _cid_of(payload)
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        return real(ctx, payload)
    finally:
        _record("worker", t0, time.perf_counter(), time.thread_time() - c0)
        _local.cid = None
        dump()


def dump() -> None:
    """Append this process's events to DIR/<pid>.jsonl and forget them."""
    if _DIR is None:
        return
    events, EVENTS[:] = list(EVENTS), []
    with open(_DIR / f"{os.getpid()}.jsonl", "a") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")


def load(path: str) -> list[tuple]:
    out = []
    for p in Path(path).glob("*.jsonl"):
        out += [tuple(json.loads(line)) for line in p.read_text().splitlines()]
    return out


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def report(events: list[tuple], sent: dict[str, tuple[float, float, float]]) -> str:
    """Per-stage wall / CPU ms over every message, and for the slowest 5% beside the rest.
    `sent`: control id -> (the sender's write, its read of the ACK, the sender thread's CPU)."""
    by: dict[str, dict[str, list]] = {}
    for pid, tid, cid, name, t0, t1, cpu in events:
        if cid is not None:
            by.setdefault(cid, {}).setdefault(name, []).append((t0, t1, cpu, pid, tid))
    first_sent = min((v[0] for v in sent.values()), default=0.0)
    gcs = [(name, t0, t1, pid, cpu) for pid, tid, cid, name, t0, t1, cpu in events
           if name.startswith("gc") and t0 >= first_sent]   # the measured messages' window
    rows = []
    for cid, (s0, s1, scpu) in sent.items():
        ev = by.get(cid)
        if not ev or "handed" not in ev or "ack written" not in ev:
            continue
        first = lambda n: ev[n][0] if n in ev else None  # noqa: E731
        total = lambda n: (sum(e[1] - e[0] for e in ev.get(n, ())),  # noqa: E731
                           sum(e[2] for e in ev.get(n, ())))
        handed, proc, wrote = first("handed"), first("process"), first("ack written")
        work = first("worker") or proc
        st: dict[str, tuple[float, float]] = {}
        st["frame read"] = (handed[0] - s0, 0.0)
        st["queue"] = (proc[0] - handed[0], 0.0)
        if first("worker"):
            st["ipc"] = (work[0] - proc[0], 0.0)
        for n in ("resend look", "convert", "validate"):
            st[n] = total(n)
        gate, flock, enter = total("gate acquire"), total("flock wait"), total("uow enter")
        commit, index, release = total("commit"), total("index rows"), total("release")
        # the write unit of work is the last one entered on this message's thread
        w = ev.get("uow enter", ())
        st["gate wait"] = gate
        st["  of which flock"] = flock
        st["begin"] = (enter[0] - gate[0], enter[1] - gate[1])
        if w and "commit" in ev:
            held0, held1 = w[-1][1], ev["commit"][-1][0]
            st["held"] = (held1 - held0, 0.0)
        st["index rows"] = index
        st["commit"] = (commit[0] - index[0], commit[1] - index[1])
        st["release"] = release
        if first("worker"):
            st["ipc back"] = (proc[1] - work[1], 0.0)
        st["ack back"] = (wrote[0] - proc[1], 0.0)
        st["ack read"] = (s1 - wrote[0], 0.0)
        st["thread CPU"] = (0.0, work[2])
        st["sender CPU"] = (0.0, scpu)
        st["total"] = (s1 - s0, 0.0)
        overlap = sum(min(t1, s1) - max(t0, s0) for _, t0, t1, _, _ in gcs
                      if t1 > s0 and t0 < s1)
        st["gc during"] = (overlap, 0.0)
        rows.append(st)
    rows.sort(key=lambda r: r["total"][0])
    cut = max(1, len(rows) // 20)
    slow, rest = rows[-cut:], rows[:-cut]
    names = list(rows[-1]) if rows else []
    out = [f"{len(rows)} messages traced; slowest {len(slow)} (>= "
           f"{slow[0]['total'][0] * 1000:.1f} ms) beside the other {len(rest)}",
           f"{'stage':18} {'all p50':>8} {'all p95':>8} {'rest mean':>10} {'slow mean':>10}"
           f" {'CPU mean':>9}   (ms, wall unless CPU)"]
    for n in names:
        allw = [r[n][0] * 1000 for r in rows if n in r]
        m = lambda rs: sum(r[n][0] for r in rs if n in r) * 1000 / max(1, len(rs))  # noqa
        cpu = sum(r[n][1] for r in rows if n in r) * 1000 / max(1, len(rows))
        out.append(f"{n:18} {_pct(allw, .5):8.2f} {_pct(allw, .95):8.2f} {m(rest):10.2f} "
                   f"{m(slow):10.2f} {cpu:9.2f}")
    for gen in ("gc0", "gc1", "gc2"):
        d = [((t1 - t0) * 1000, cpu * 1000) for n, t0, t1, _, cpu in gcs if n == gen]
        if d:
            out.append(f"{gen}: {len(d)} pauses, total {sum(w for w, _ in d):.1f} ms (CPU "
                       f"{sum(c for _, c in d):.1f}), max {max(w for w, _ in d):.1f} ms (CPU "
                       f"{max(c for _, c in d):.1f})")
    return "\n".join(out)


def slowest(events: list[tuple], k: int = 10) -> str:
    """The k longest services (`process` / `worker` spans) with what ran inside them: every
    span of the same thread in that interval, and collector pauses of the same process."""
    services = [e for e in events if e[3] in ("worker",) or
                (e[3] == "process" and not any(x[3] == "worker" for x in events))]
    services.sort(key=lambda e: e[5] - e[4], reverse=True)
    t_min = min(e[4] for e in events)
    out = []
    for pid, tid, cid, name, t0, t1, cpu in services[:k]:
        out.append(f"{cid} at {1000 * (t0 - t_min):8.1f} ms: {1000 * (t1 - t0):.1f} ms wall, "
                   f"{1000 * cpu:.1f} ms CPU")
        inner = sorted((e for e in events if e[0] == pid and e[4] >= t0 and e[5] <= t1 and
                        (e[1] == tid or e[3].startswith("gc")) and e[3] not in
                        ("process", "worker")), key=lambda e: e[4])
        out.append("    " + ", ".join(f"{e[3]} {1000 * (e[5] - e[4]):.1f}/{1000 * e[6]:.1f}"
                                      for e in inner if e[5] - e[4] > 0.0005))
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    events = load(sys.argv[1])
    sent_file = Path(sys.argv[1], "sent.json")
    if sent_file.exists():
        print(report(events, {k: tuple(v) for k, v in json.loads(sent_file.read_text()).items()}))
    print(slowest(events, int(sys.argv[2]) if len(sys.argv) > 2 else 10))
