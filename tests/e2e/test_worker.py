"""Real `fhirsvc worker` processes on SQLite and PostgreSQL.

- A worker killed with SIGKILL in the middle of a reindex: another worker takes the job over
  once the heartbeat expires, resumes from the last checkpoint, and the index ends exactly as a
  from-scratch one.
- `fhirsvc serve` starts a worker beside gunicorn and stops it with the server.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from jobs_support import (expected_rows, index_rows, patient, store_site_param,  # noqa: E402
                          wipe_index)

from fhirsvc.bootstrap import build  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.jobs import JobQueue  # noqa: E402
from tools.server_process import ROOT, Server  # noqa: E402

pytestmark = pytest.mark.e2e

EXPIRY = 2.0  # seconds: heartbeats every 0.5 s


@pytest.fixture(scope="module")
def runtime(db_url, tmp_path_factory):
    rt = build(Config(database_url=db_url, examples_dir=tmp_path_factory.mktemp("none")))
    with rt.db.unit_of_work(write=True) as uow:
        uow.resources.create_many([("Patient", f"kill{n}", patient(n), "POST")
                                   for n in range(200)])
        uow.commit()
    yield rt
    rt.close()


def start_worker(db_url: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, FHIRSVC_DATABASE_URL=db_url,
               FHIRSVC_JOB_HEARTBEAT_EXPIRY=str(EXPIRY))
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "fhirsvc", "worker", "--poll", "0.1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(predicate, timeout=120.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_job_is_finished_by_another(runtime, db_url, tmp_path):
    store_site_param(runtime)  # a SearchParameter the workers must learn from the database
    wipe_index(runtime)
    queue = JobQueue(runtime.db)
    job = queue.enqueue("reindex", {"batch": 10, "pause": 0.2})  # 20 batches, ~4 s
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_worker(db_url, log) for log in logs]
    try:
        def mid_job():
            j = queue.get(job.id)
            return j if j.state == "running" and j.progress_done >= 30 else None
        running = wait_for(mid_job, what="three batches")
        victim = next(i for i, p in enumerate(procs) if f":{p.pid}:" in running.owner)
        survivor = 1 - victim
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(timeout=30)
        at_kill = queue.get(job.id)
        assert at_kill.state == "running" and at_kill.owner == running.owner  # left as it was
        assert at_kill.progress_done < at_kill.progress_total
        final = queue.wait(job.id, poll=0.1, timeout=180)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    assert final.state == "succeeded", final.error
    assert final.attempts == 2 and f":{procs[survivor].pid}:" in final.owner
    assert "no heartbeat from worker " + running.owner in final.error  # the takeover, recorded
    with runtime.db.unit_of_work() as uow:
        total = uow.resources.count(include_deleted=True)
        live = uow.resources.count()
    assert final.result == {"indexed": live, "resources": total}
    log = logs[survivor].read_text()
    assert "resuming from its checkpoint" in log
    assert f"reindex resuming after resource key {at_kill.cursor['after']} " in log
    assert index_rows(runtime.db) == expected_rows(runtime)  # complete and exact


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_serve_runs_a_worker_and_stops_it_with_the_server(runtime, db_url, tmp_path):
    srv = Server(db_url, tmp_path, workers=1, env={"FHIRSVC_JOB_POLL": "0.1"}).start()
    try:
        queue = JobQueue(runtime.db)
        job = queue.enqueue("reindex")
        final = queue.wait(job.id, poll=0.1, timeout=120)
        assert final.state == "succeeded", final.error
        pid = int(final.owner.split(":")[1])
        assert _parent_of(pid) == srv.proc.pid  # the serve process started it
    finally:
        srv.stop()
    assert srv.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert f"worker {final.owner} stopped after 1 job(s)" in srv.log.read_text()


def _gone(pid: int) -> bool:
    """Exited (a zombie nobody has reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_worker_of_a_killed_server_stops_by_itself(db_url, tmp_path):
    """SIGKILL of the serve process alone (not its group): its worker notices and stops, so no
    orphan keeps claiming jobs."""
    srv = Server(db_url, tmp_path, workers=1).start()
    try:
        started = wait_for(lambda: re.search(r"worker (\S+):(\d+):\w+ started",
                                             srv.log.read_text()), what="the worker")
        pid = int(started.group(2))
        assert _parent_of(pid) == srv.proc.pid
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=30)
        wait_for(lambda: _gone(pid), timeout=30, what="the worker to stop")
    finally:
        try:  # the rest of its process group (gunicorn's workers outlive their master a moment)
            os.killpg(srv.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        srv.proc.wait(timeout=30)
    assert "is gone: stopping" in srv.log.read_text()
