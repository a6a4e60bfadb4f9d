"""One request of each kind, end to end in one process: what it costs the database and Python.

    python bench/request_profile.py --db postgresql [--auth smart] [--checkout DIR] [--repeat 50]

A fresh database gets one Synthea bundle; then each kind of request of the mixed load
(bench/mixed_load.py: read, search, create, update) runs `--repeat` times through the Flask app
(no HTTP server: the statements and Python time of the app itself). Printed per kind, averaged
over the repeats: SQL statements sent, transactions (BEGIN ... COMMIT / ROLLBACK), autocommitted
statements, connection checkouts, the thread's CPU time, and the statements by their first
words (what each one is); pings are the pool's liveness checks (round trips too). `--auth smart` runs with bearer tokens (the rate limit and the token
checks on the path); `--checkout` imports the app from another checkout (a baseline).
"""
from __future__ import annotations

import argparse
import cProfile
import collections
import glob
import json
import os
import pstats
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))   # cpu_sampler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--auth", choices=["off", "smart"], default="off")
    ap.add_argument("--checkout", help="import fhirsvc from another checkout (a baseline)")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--sample", action="store_true",
                    help="sample the request thread's CPU (bench/cpu_sampler.py) and print "
                    "where it goes")
    ap.add_argument("--cprofile", metavar="DIR",
                    help="write a cProfile of each kind's repeats to DIR/<kind>.prof")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.checkout).resolve() if args.checkout else ROOT))
    from sqlalchemy import event

    from fhirsvc import create_app
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    from fhirsvc.storage.scratch import ScratchDatabases

    work = Path(tempfile.mkdtemp(prefix="fhirsvc_profile_"))
    scratch = None
    if args.db == "sqlite":
        url = f"sqlite:///{work / 'p.db'}"
    else:
        scratch = ScratchDatabases(os.environ.get(
            "FHIRSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
        url = scratch.create("fhirsvc_profile")
    public = "http://fhir.test/fhir"
    try:
        upgrade(url)
        (work / "ex").mkdir()
        config = Config(database_url=url, examples_dir=work / "ex", auth=args.auth,
                        public_base_url=public, auth_signing_key=str(work / "key.pem"))
        app = create_app(config)
        runtime = app.extensions["fhirsvc.runtime"]
        client = app.test_client()
        headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
        if args.auth == "smart":
            now = int(time.time())
            headers["Authorization"] = "Bearer " + runtime.services.auth.key.issue({
                "iss": public.rsplit("/fhir", 1)[0] + "/auth", "sub": "prof", "aud": public,
                "exp": now + 3600, "iat": now, "nbf": now, "jti": uuid.uuid4().hex,
                "client_id": "prof", "scope": "system/*.cruds", "client_class": "bulk"})
        files = sorted(glob.glob(str(ROOT.parent / "shared" / "conformance" / "synthea"
                                     / "*.json")))
        body = next(open(f, "rb").read() for f in files)
        r = client.post("/fhir", data=body, headers=headers)
        assert r.status_code == 200, r.get_data()[:500]
        pat = client.get("/fhir/Patient?_count=1", headers=headers).get_json()
        pid = pat["entry"][0]["resource"]["id"]
        obs = client.get(f"/fhir/Observation?patient={pid}&_count=1",
                         headers=headers).get_json()["entry"][0]["resource"]["id"]

        counts: collections.Counter = collections.Counter()
        shapes: collections.Counter = collections.Counter()
        engine = runtime.db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def _stmt(conn, cursor, statement, params, context, executemany):
            counts["statements"] += 1
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                counts["autocommit statements"] += 1
            shapes[" ".join(re.sub(r"\s+", " ", statement).split()[:4])[:60]] += 1

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # SQLAlchemy begins its own transaction object on an autocommit connection too;
            # only the others send BEGIN (and COMMIT / ROLLBACK) to the server
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                counts["transactions"] += 1

        @event.listens_for(engine, "checkout")
        def _checkout(*_a):
            counts["checkouts"] += 1

        real_ping = engine.dialect.do_ping

        def _ping(dbapi_conn):    # a liveness ping is a round trip on the raw DBAPI cursor
            counts["pings"] += 1
            return real_ping(dbapi_conn)
        engine.dialect.do_ping = _ping

        obs_body = {"resourceType": "Observation", "status": "final",
                    "category": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "effectiveDateTime": "2020-05-06",
                    "valueQuantity": {"value": 170, "unit": "cm",
                                      "system": "http://unitsofmeasure.org", "code": "cm"}}
        current = client.get(f"/fhir/Patient/{pid}", headers=headers).get_json()

        def update(i):
            current["extension"] = [{"url": "http://example.org/load", "valueInteger": i}]
            return client.put(f"/fhir/Patient/{pid}", data=json.dumps(current),
                              headers=headers)
        kinds = {
            "read Patient": lambda i: client.get(f"/fhir/Patient/{pid}", headers=headers),
            "read Observation": lambda i: client.get(f"/fhir/Observation/{obs}",
                                                     headers=headers),
            "search patient+code": lambda i: client.get(
                f"/fhir/Observation?patient={pid}&code=http://loinc.org|8302-2",
                headers=headers),
            "search date range": lambda i: client.get(
                "/fhir/Observation?date=ge2015-01-01&date=lt2015-01-15", headers=headers),
            "create Observation": lambda i: client.post(
                "/fhir/Observation", data=json.dumps(obs_body), headers=headers),
            "update Patient": update,
        }
        print(f"{args.db}, auth {args.auth}, {args.checkout or 'this checkout'}: per request, "
              f"mean of {args.repeat}")
        for name, call in kinds.items():
            r = call(0)   # warm
            assert r.status_code < 300, (name, r.status_code, r.get_data()[:500])
            # Python function calls per request (cProfile's count): deterministic where CPU
            # time on a shared machine is not
            calls = cProfile.Profile()
            calls.enable()
            for i in range(10):
                call(1000 + i)
            calls.disable()
            ncalls = pstats.Stats(calls).total_calls / 10
            runtime.services.audit.log.flush()
            counts.clear()
            shapes.clear()
            prof = cProfile.Profile() if args.cprofile else None
            sampler = None
            if args.sample:
                from cpu_sampler import Sampler
                sys.setswitchinterval(2e-5)
                sampler = Sampler().start()
            cpu = time.thread_time()
            if prof is not None:
                prof.enable()
            for i in range(args.repeat):
                r = call(i + 1)
                assert r.status_code < 300, (name, r.status_code, r.get_data()[:300])
            if prof is not None:
                prof.disable()
            cpu = time.thread_time() - cpu
            if prof is not None:   # CPU above then includes the profiler's own
                Path(args.cprofile).mkdir(parents=True, exist_ok=True)
                prof.dump_stats(str(Path(args.cprofile) / (name.replace(" ", "_") + ".prof")))
            n = args.repeat
            print(f"{name:22} statements {counts['statements'] / n:5.2f}  transactions "
                  f"{counts['transactions'] / n:4.2f}  autocommit {counts['autocommit statements'] / n:4.2f}  "
                  f"checkouts {counts['checkouts'] / n:4.2f}  pings {counts['pings'] / n:4.2f}  CPU {cpu / n * 1000:6.2f} ms  "
                  f"calls {ncalls:7.0f}")
            if sampler is not None:
                from cpu_sampler import CATEGORIES
                sampler.stop()
                print(f"    CPU sampled {sampler.total() / n * 1000:.2f} ms: " + ", ".join(
                    f"{c[0]} {sampler.share(*c[1:]) * 100:.0f}%" for c in CATEGORIES))
            for shape, k in shapes.most_common():
                print(f"    {k / n:5.2f}  {shape}")
    finally:
        if "runtime" in locals():
            runtime.close()
        if scratch is not None:
            scratch.drop(url)
            scratch.dispose()


if __name__ == "__main__":
    main()
