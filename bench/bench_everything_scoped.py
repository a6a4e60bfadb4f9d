"""Patient/$everything for a patient-scoped SMART app: the cost of counting only what the
caller receives (issue 13 follow-up: every candidate is admitted before paging).

    PYTHONPATH=. python bench/bench_everything_scoped.py [--db sqlite|postgresql] [--repeat 20]
        [--checkout BASE]      # that checkout's fhirsvc (a baseline)

One Synthea patient's bundle (the largest of ../shared/conformance/synthea) in a fresh
database, an app with FHIRSVC_AUTH=smart, and `GET /Patient/<id>/$everything?_count=50` with
a `patient/*.rs` token for that patient and with `system/*.rs`: per request the SQL statements,
the process CPU ms (median of --repeat), the Bundle.total and the entries of the first page.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--checkout", help="import fhirsvc from this checkout (a baseline)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.checkout).resolve() if args.checkout else ROOT))
    from fhirsvc import create_app
    from fhirsvc.config import Config
    from fhirsvc.storage.migrate import upgrade
    from fhirsvc.storage.scratch import ScratchDatabases
    from tools.sql_log import statements_run
    work = Path(tempfile.mkdtemp(prefix="fhirsvc_everything_"))
    scratch = None
    if args.db == "sqlite":
        url = f"sqlite:///{work / 'e.db'}"
    else:
        scratch = ScratchDatabases(os.environ.get(
            "FHIRSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
        url = scratch.create("fhirsvc_everything")
    try:
        upgrade(url)
        app = create_app(Config(database_url=url, examples_dir=work, auth="smart",
                                auth_signing_key=str(work / "key.pem"),
                                client_classes='{"standard": {"rate": 1e9, "burst": 1e9}}'))
        rt = app.extensions["fhirsvc.runtime"]
        files = sorted(glob.glob(str(ROOT.parent / "shared" / "conformance" / "synthea" /
                                     "*.json")), key=os.path.getsize)
        bundle = json.loads(Path(files[-1]).read_text())
        rt.services.resources.bundle(rt.context(), bundle)
        client = app.test_client()
        base = "http://localhost/fhir"
        with rt.db.unit_of_work() as uow:
            from sqlalchemy import text
            pid = uow.conn.execute(text("SELECT resource_id FROM resources WHERE "
                                        "resource_type = 'Patient' LIMIT 1")).scalar()

        def token(scope, patient=None):
            now = int(time.time())
            claims = {"iss": base.rsplit("/fhir", 1)[0] + "/auth", "sub": "b", "aud": base,
                      "exp": now + 300, "iat": now, "nbf": now, "jti": uuid.uuid4().hex,
                      "client_id": "bench", "scope": scope, "client_class": "standard"}
            if patient:
                claims["patient"] = patient
            return rt.services.auth.key.issue(claims)
        for label, scope, patient in (("patient/*.rs", "patient/*.rs", pid),
                                      ("system/*.rs", "system/*.rs", None)):
            headers = {"Authorization": "Bearer " + token(scope, patient)}
            path = f"/fhir/Patient/{pid}/$everything?_count=50"
            cpu, n_sql = [], []
            for _ in range(args.repeat):
                with statements_run(rt.db.engine) as run:
                    t = time.process_time()
                    resp = client.get(path, headers=headers)
                    cpu.append(time.process_time() - t)
                assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
                n_sql.append(len(run))
            b = resp.get_json()
            print(f"{args.db} {label:14} total {b.get('total')}, first page "
                  f"{len(b.get('entry', []))} entries, statements {statistics.median(n_sql):.0f}, "
                  f"CPU ms median {statistics.median(cpu) * 1000:.1f}")
        rt.close()
    finally:
        if scratch is not None:
            scratch.drop(url)
            scratch.dispose()


if __name__ == "__main__":
    main()
