"""Peak memory of the worst read request we could build (issue 9), through the checkout it is
run from: the 12 Synthea bundles loaded into SQLite, then one batch of 40 searches
`Patient?_include:iterate=*&_revinclude:iterate=*&_count=1000` (every resource, 40 times).
Prints the answer's status line(s) and the process's peak RSS before and after the request:
`python <this file>`. Run it from two checkouts to compare."""
import glob
import resource
import sys
import tempfile
import time

sys.path.insert(0, ".")
from fhirsvc.bootstrap import build  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.outcomes import OperationOutcomeError  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402

url = f"sqlite:///{tempfile.mkdtemp()}/x.db"
upgrade(url)
rt = build(Config(database_url=url))
ctx = rt.context()
bodies = [open(f, "rb").read() for f in sorted(glob.glob("../shared/conformance/synthea/*.json"))]
bodies.sort(key=lambda b: 0 if b'"Patient"' not in b[:5000] else 1)
for b in bodies:
    rt.services.resources.bundle(ctx, b)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
search = {"request": {"method": "GET",
                      "url": "Patient?_include:iterate=*&_revinclude:iterate=*&_count=1000"}}
batch = {"resourceType": "Bundle", "type": "batch", "entry": [search] * int(sys.argv[1] if len(sys.argv) > 1 else 40)}
t = time.perf_counter()
try:
    out = rt.services.resources.bundle(ctx, batch)
    statuses = [e["response"]["status"] for e in out["entry"]]
    returned = sum(len(e.get("resource", {}).get("entry", [])) for e in out["entry"])
    summary = f"{statuses.count('200 OK')} x 200, {len(statuses) - statuses.count('200 OK')} " \
              f"failed ({sorted(set(statuses))}), {returned} resources returned"
except OperationOutcomeError as exc:
    summary = f"{exc.status}: {exc.issues[0].message}"
dt = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{summary}; {dt:.2f} s; peak RSS {before:.0f} MiB after loading, {after:.0f} MiB after "
      f"the request (+{after - before:.0f} MiB)")
