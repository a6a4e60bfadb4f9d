"""Single REST writes in process, through the checkout it is run from (cwd), for
before/after comparisons: `python <this file> sqlite|postgresql [N]`. N creates, N updates
and N deletes of Patients through `services.resources` with the HTTP door's context (door
`rest`, as a request with auth off), then one transaction of N creates; prints wall and CPU
time of each phase. Issue 13: the cost of a Provenance per write."""
import sys
import tempfile
import time

sys.path.insert(0, ".")
from fhirsvc.bootstrap import build
from fhirsvc.config import Config
from fhirsvc.storage.migrate import upgrade

backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
drop = None
if backend == "sqlite":
    url = f"sqlite:///{tempfile.mkdtemp()}/x.db"
else:
    from fhirsvc.storage.scratch import ScratchDatabases
    scratch = ScratchDatabases("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    url = scratch.create("prov_bench")

    def drop():
        scratch.drop(url)
        scratch.dispose()
upgrade(url)
rt = build(Config(database_url=url))
ctx = rt.context(door="rest")
res = rt.services.resources


def patient(i, pid=None):
    p = {"resourceType": "Patient", "name": [{"family": f"Bench{i}", "given": ["A"]}],
         "gender": "female", "birthDate": "1970-01-01",
         "identifier": [{"system": "urn:bench", "value": str(i)}]}
    if pid:
        p["id"] = pid
    return p


def phase(label, fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    dt, dc = time.perf_counter() - t, time.process_time() - c
    print(f"{label}: {n} in wall {dt:.3f} s ({n / dt:.0f}/s) cpu {dc:.3f} s "
          f"({dc / n * 1000:.2f} ms each)")
    return out


try:
    ids = phase("create", lambda: [res.create(ctx, "Patient", patient(i)).stored.resource_id
                                   for i in range(n)])
    phase("update", lambda: [res.update(ctx, "Patient", rid, {**patient(i, rid),
                                                               "gender": "male"})
                             for i, rid in enumerate(ids)])
    phase("delete", lambda: [res.delete(ctx, "Patient", rid) for rid in ids])
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(i), "request": {"method": "POST", "url": "Patient"}}
        for i in range(n)]}
    phase("transaction", lambda: res.bundle(ctx, bundle))
finally:
    rt.close()
    if drop:
        drop()
