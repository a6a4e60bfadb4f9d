"""A `fhirsvc worker` killed (SIGKILL) in the middle of a Bulk Data export: another worker
takes the job over once the heartbeat expires, cuts the file back to the last checkpoint and
finishes it; every resource is in the file exactly once."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from jobs_support import patient  # noqa: E402
from test_worker import EXPIRY, wait_for  # noqa: E402

from fhirsvc.bootstrap import build  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.jobs import JobQueue  # noqa: E402
from fhirsvc.storage.jobs import now_micros  # noqa: E402
from tools.server_process import ROOT  # noqa: E402

pytestmark = pytest.mark.e2e
N = 600


@pytest.fixture(scope="module")
def runtime(db_url, tmp_path_factory):
    rt = build(Config(database_url=db_url, examples_dir=tmp_path_factory.mktemp("none"),
                      export_dir=tmp_path_factory.mktemp("exports")))
    with rt.db.unit_of_work(write=True) as uow:
        uow.resources.create_many([("Patient", f"bulk{n}", patient(n), "POST")
                                   for n in range(N)])
        uow.commit()
    yield rt
    rt.close()


def start(db_url: str, export_dir: Path, log: Path):
    import os
    import subprocess
    env = dict(os.environ, FHIRSVC_DATABASE_URL=db_url, FHIRSVC_EXPORT_DIR=str(export_dir),
               FHIRSVC_JOB_HEARTBEAT_EXPIRY=str(EXPIRY))
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "fhirsvc", "worker", "--poll", "0.1",
                                 "--kinds", "bulk-export"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def test_killed_worker_export_is_finished_by_another(runtime, db_url, tmp_path):
    queue = JobQueue(runtime.db)
    job = queue.enqueue("bulk-export", {
        "level": "system", "types": ["Patient"], "transaction_time": now_micros(),
        "request": "test", "secret": "s", "batch": 10, "pause": 0.05})  # 60 batches, ~3 s
    export_dir = runtime.config.export_dir
    procs = [start(db_url, export_dir, tmp_path / f"{i}.log") for i in range(2)]
    try:
        def mid_job():
            j = queue.get(job.id)
            return j if j.state == "running" and j.progress_done >= 100 else None
        running = wait_for(mid_job, what="ten batches")
        victim = next(i for i, p in enumerate(procs) if f":{p.pid}:" in running.owner)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=30)
        at_kill = queue.get(job.id)
        assert at_kill.progress_done < N
        final = queue.wait(job.id, poll=0.1, timeout=180)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    assert final.state == "succeeded", final.error
    assert final.attempts == 2
    lines = (export_dir / f"job-{job.id}" / "Patient.ndjson").read_bytes().splitlines()
    ids = [orjson.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == N
    assert final.result["output"] == [{"type": "Patient", "name": "Patient.ndjson", "count": N}]
