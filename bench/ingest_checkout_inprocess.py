"""In-process ingest of the 12 Synthea bundles with validation on, through the checkout it is
run from (works with older checkouts' entry points too), for before/after comparisons:
`python <this file> sqlite|postgresql [--frozen] [--door rest]`; wall and CPU time of this
process (CPU is the figure least moved by other load). --frozen moves the loaded definitions out
of the garbage collector first, as `serve` does. --door rest sends the Bundles as the HTTP door
does (the default is the CLI's context: no REST Provenance)."""
import glob
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, ".")
from fhirsvc.config import Config
from fhirsvc.storage.migrate import upgrade
backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
frozen = "--frozen" in sys.argv
door = sys.argv[sys.argv.index("--door") + 1] if "--door" in sys.argv else None
files = sorted(glob.glob("../shared/conformance/synthea/*.json"))
bodies = [open(f, "rb").read() for f in files]
bodies.sort(key=lambda b: 0 if b'"Patient"' not in b[:5000] else 1)  # shared organisations first
drop = None
if backend == "sqlite":
    url = f"sqlite:///{tempfile.mkdtemp()}/x.db"
else:
    import psycopg
    # a scratch database named by the caller (FHIRSVC_BENCH_DB_PREFIX), never `test`
    name = f"{os.environ.get('FHIRSVC_BENCH_DB_PREFIX', 'fhirsvc_bench')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    def drop():
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
upgrade(url)
cfg = Config(database_url=url)
try:
    from fhirsvc.bootstrap import build
    rt = build(cfg)
    if hasattr(rt, "services"):
        ctx = rt.context(door=door) if door else rt.context()
        run = lambda b: rt.services.resources.bundle(ctx, b)
    else:
        run = lambda b: rt.service.process_bundle(b, "http://x/fhir")
except ImportError:
    from fhirsvc import build_service
    svc = build_service(cfg)
    run = lambda b: svc.process_bundle(b, "http://x/fhir")
if frozen:
    import gc
    gc.collect()
    gc.freeze()
n = 0
t, c = time.perf_counter(), time.process_time()
for b in bodies:
    n += len(run(b)["entry"])
dt, dc = time.perf_counter() - t, time.process_time() - c
print(f"{backend} {n} resources wall {dt:.3f} s ({n/dt:.0f}/s) cpu {dc:.3f} s ({n/dc:.0f}/s)")
if drop: drop()
