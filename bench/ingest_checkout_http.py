"""HTTP ingest of the Synthea bundles into a fresh server of the checkout it is run from, for
before/after comparisons of two checkouts with one client (run it from each checkout's root,
interleaved): `python <this file> sqlite|postgresql` (ROUNDS=6 by default: the patient bundles
posted six times by two client threads, one round after the other, after the shared
organisations; the job worker and the MLLP listener off).

Besides the whole run it prints each half of the rounds on its own (the first half includes
each worker's first use of the validator's structures, the second is the steady state), the
CPU of the server's processes per resource in each half (from /proc: robust to other load),
the PostgreSQL backends' CPU per resource (a server on this machine), the server's
start-up time (spawn to the first answer) and its workers' memory (RSS, and the
unique part USS: what copy-on-write sharing leaves to each worker)."""
import glob
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests


def _server_pids(root):
    """The server's process and its descendants (gunicorn master and workers)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        q = todo.pop()
        out.append(q)
        todo += kids.get(q, [])
    return out


def server_cpu(root):
    """User+system CPU seconds of the server's live processes."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for q in _server_pids(root):
        try:
            f = open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
    return total / tick


def database_cpu(name):
    """User+system CPU seconds of the PostgreSQL backends serving database `name` (this
    machine's server, read from /proc), or 0.0 for SQLite."""
    if name is None:
        return 0.0
    import psycopg
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        pids = [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                        (name,))]
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for q in pids:
        try:
            f = open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
    return total / tick


def worker_memory(root):
    """(RSS MiB, USS MiB) of each gunicorn worker (the serve process is the master; its
    children are the workers: the job worker and the MLLP listener are off)."""
    out = []
    for q in _server_pids(root)[1:]:
        try:
            rollup = dict(line.split(":", 1) for line in
                          open(f"/proc/{q}/smaps_rollup").read().splitlines()[1:])
        except OSError:
            continue
        kb = lambda k: int(rollup[k].split()[0])
        out.append((kb("Rss") / 1024, (kb("Private_Clean") + kb("Private_Dirty")) / 1024))
    return out

backend = sys.argv[1]
files = sorted(glob.glob("../shared/conformance/synthea/*.json"))
bodies = [open(f, "rb").read() for f in files]
first = [b for b in bodies if b'"Patient"' not in b[:5000]]
rest = [b for b in bodies if b not in first]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
name = None
if backend == "sqlite":
    url = f"sqlite:///{d}/x.db"
else:
    import psycopg, uuid
    # a scratch database named by the caller (FHIRSVC_BENCH_DB_PREFIX), never `test`
    name = f"{os.environ.get('FHIRSVC_BENCH_DB_PREFIX', 'fhirsvc_bench')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
env = dict(os.environ, FHIRSVC_DATABASE_URL=url, FHIRSVC_PORT=str(port), FHIRSVC_WORKER="off",
           FHIRSVC_MLLP_PORT="0")  # no MLLP listener: not measured, and 2575 may be taken
p = subprocess.Popen([".venv/bin/python", "-m", "fhirsvc", "serve", "--no-examples", "--workers", "2"],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
base = f"http://127.0.0.1:{port}/fhir"
t_spawn = time.perf_counter()
for _ in range(300):
    try:
        if requests.get(base + "/metadata", timeout=2).ok: break
    except Exception: time.sleep(0.05)
startup = time.perf_counter() - t_spawn
startup_cpu = server_cpu(p.pid)   # the master's start-up (migrate, build, warm) and the workers'
mem_start = worker_memory(p.pid)
H = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
for b in first:  # the shared organisations and practitioners first (not timed)
    requests.post(base, data=b, headers=H).raise_for_status()
n = 0; lock = threading.Lock()
def worker(items):
    global n
    for b in items:
        r = requests.post(base, data=b, headers=H); r.raise_for_status()
        with lock: n += len(r.json()["entry"])
ROUNDS = int(os.environ.get("ROUNDS", "6"))
def run(rounds):
    """Post the patient bundles `rounds` times with two client threads: (resources, wall,
    server CPU, PostgreSQL backends' CPU)."""
    global n
    n = 0
    work = rest * rounds
    c0, d0, t0 = server_cpu(p.pid), database_cpu(name), time.perf_counter()
    ts = [threading.Thread(target=worker, args=(work[i::2],)) for i in range(2)]
    [x.start() for x in ts]; [x.join() for x in ts]
    return n, time.perf_counter() - t0, server_cpu(p.pid) - c0, database_cpu(name) - d0
# one round at a time (the two threads joined between rounds), so the first round, where each
# worker meets every type for the first time, shows on its own
per_round = [run(1) for _ in range(ROUNDS)]
half = lambda rs: tuple(sum(x) for x in zip(*rs))
cold, steady = half(per_round[:ROUNDS // 2]), half(per_round[ROUNDS // 2:])
whole = half(per_round)
print(f"{backend} {whole[0]} resources {whole[1]:.2f} s {whole[0]/whole[1]:.0f}/s")
for label, (k, dt, cpu, db_cpu) in (("whole run", whole),
                                    (f"first {ROUNDS // 2} rounds (cold: first use included)", cold),
                                    (f"last {ROUNDS - ROUNDS // 2} rounds (steady state)", steady)):
    print(f"  {label}: {k} resources {dt:.2f} s {k/dt:.0f}/s, server CPU {cpu:.2f} s "
          f"({cpu / k * 1e6:.0f} us/resource)"
          + (f", PostgreSQL CPU {db_cpu / k * 1e6:.0f} us/resource" if name else ""))
print("  server CPU per round, us/resource: "
      + ", ".join(f"{r[2] / r[0] * 1e6:.0f}" for r in per_round))
mem_end = worker_memory(p.pid)
print(f"  server start-up {startup:.2f} s, CPU {startup_cpu:.2f} s; workers RSS/USS MiB at start "
      + ", ".join(f"{r:.0f}/{u:.0f}" for r, u in mem_start) + "; at end "
      + ", ".join(f"{r:.0f}/{u:.0f}" for r, u in mem_end))
os.killpg(p.pid, 15); p.wait()
import shutil
shutil.rmtree(d, ignore_errors=True)   # the SQLite database of this run
if backend != "sqlite":
    import psycopg
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
