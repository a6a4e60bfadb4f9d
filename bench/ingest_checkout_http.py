"""HTTP ingest of the Synthea bundles into a fresh server of the checkout it is run from, for
before/after comparisons of two checkouts with one client (run it from each checkout's root,
interleaved): `python <this file> sqlite|postgresql` (ROUNDS=6 by default: the patient bundles
posted six times by two client threads, after the shared organisations; the job worker off)."""
import glob
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests
backend = sys.argv[1]
files = sorted(glob.glob("../shared/conformance/synthea/*.json"))
bodies = [open(f, "rb").read() for f in files]
first = [b for b in bodies if b'"Patient"' not in b[:5000]]
rest = [b for b in bodies if b not in first]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
if backend == "sqlite":
    url = f"sqlite:///{d}/x.db"
else:
    import psycopg, uuid
    # a scratch database named by the caller (FHIRSVC_BENCH_DB_PREFIX), never `test`
    name = f"{os.environ.get('FHIRSVC_BENCH_DB_PREFIX', 'fhirsvc_bench')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
env = dict(os.environ, FHIRSVC_DATABASE_URL=url, FHIRSVC_PORT=str(port), FHIRSVC_WORKER="off")
p = subprocess.Popen([".venv/bin/python", "-m", "fhirsvc", "serve", "--no-examples", "--workers", "2"],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
base = f"http://127.0.0.1:{port}/fhir"
for _ in range(300):
    try:
        if requests.get(base + "/metadata", timeout=2).ok: break
    except Exception: time.sleep(0.2)
H = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
for b in first:  # the shared organisations and practitioners first (not timed)
    requests.post(base, data=b, headers=H).raise_for_status()
n = 0; lock = threading.Lock()
def worker(items):
    global n
    for b in items:
        r = requests.post(base, data=b, headers=H); r.raise_for_status()
        with lock: n += len(r.json()["entry"])
t = time.perf_counter()
ROUNDS = int(os.environ.get("ROUNDS", "6"))
work = rest * ROUNDS
ts = [threading.Thread(target=worker, args=(work[i::2],)) for i in range(2)]
[x.start() for x in ts]; [x.join() for x in ts]
dt = time.perf_counter() - t
print(f"{backend} {n} resources {dt:.2f} s {n/dt:.0f}/s")
os.killpg(p.pid, 15); p.wait()
if backend != "sqlite":
    import psycopg
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
