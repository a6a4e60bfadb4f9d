"""The job queue on SQLite and PostgreSQL: claiming (threads and worker processes), heartbeats
and takeover, cancellation, retries, expiry, the reindex kind and the CLI commands.

Crash-and-resume with `kill -9` of a real `fhirsvc worker`, and the worker that `serve` starts,
are in tests/e2e/test_worker.py.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, update

import jobs_support
from fhirsvc.bootstrap import build
from fhirsvc.jobs import JobQueue, Worker
from fhirsvc.jobs.context import JobContext, JobLost
from fhirsvc.storage.jobs import Jobs, now_micros
from fhirsvc.storage.tables import jobs as J
from fhirsvc.storage.tables import metadata
from jobs_support import (create_probe_table, expected_rows, index_rows, patient,
                          probe_rows, probe_runs, store_site_param, test_kinds, wipe_index)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runtime(config):
    rt = build(config)
    create_probe_table(rt.db.engine)
    yield rt
    rt.close()


@pytest.fixture(autouse=True)
def empty_queue(runtime):
    with runtime.db.unit_of_work(write=True) as uow:
        uow.conn.execute(delete(J))
        uow.conn.execute(delete(probe_runs))
        uow.commit()
    jobs_support.cleaned.clear()


@pytest.fixture()
def queue(runtime):
    return JobQueue(runtime.db, test_kinds())


def worker(runtime, **kw) -> Worker:
    return Worker(runtime, test_kinds(), poll=kw.pop("poll", 0.01), **kw)


def tx(runtime, fn):
    """fn(Jobs) in its own write transaction."""
    with runtime.db.unit_of_work(write=True) as uow:
        out = fn(Jobs(uow.conn))
        uow.commit()
    return out


def wait_for(predicate, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- schema --------------------------------------------------------------------------------------

def test_migration_creates_the_table_the_code_declares(runtime):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    with runtime.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)

    def flat(items):
        for d in items:
            yield from (flat(d) if isinstance(d, list) else [d])
    about_jobs = [d for d in flat(diffs) if "jobs" in repr(d) and "probe_runs" not in repr(d)]
    assert about_jobs == []


# -- the storage statements --------------------------------------------------------------------

def test_lifecycle_and_owner_fencing(runtime):
    before = now_micros()
    job = tx(runtime, lambda j: j.enqueue("probe", {"steps": 2}))
    assert (job.state, job.attempts, job.owner, job.params) == ("queued", 0, None, {"steps": 2})
    assert before <= job.created <= now_micros()  # microseconds since the epoch, UTC
    claimed = tx(runtime, lambda j: j.claim("w1", ["probe"]))
    assert (claimed.id, claimed.state, claimed.owner, claimed.attempts) == (job.id, "running",
                                                                            "w1", 1)
    assert claimed.started >= job.created and claimed.heartbeat == claimed.started
    assert tx(runtime, lambda j: j.claim("w2", ["probe"])) is None
    # only the owner may report on a running job
    assert tx(runtime, lambda j: j.checkpoint(job.id, "w2", cursor=1, done=1)) is None
    assert tx(runtime, lambda j: j.checkpoint(job.id, "w1", cursor={"page": 1}, done=1,
                                              total=2, note="page 1")) is False
    assert tx(runtime, lambda j: j.complete(job.id, "w2", {"x": 1})) is False
    assert tx(runtime, lambda j: j.complete(job.id, "w1", {"x": 1})) is True
    done = tx(runtime, lambda j: j.get(job.id))
    assert (done.state, done.result, done.cursor, done.progress_text()) == (
        "succeeded", {"x": 1}, {"page": 1}, "50% (1 of 2), page 1")
    assert done.finished >= done.started
    assert done.as_dict()["finished"].endswith("Z")


def test_claim_respects_kinds_run_after_and_job_id(runtime):
    future = now_micros() + 3_600_000_000
    tx(runtime, lambda j: j.enqueue("unknown-kind"))
    later = tx(runtime, lambda j: j.enqueue("probe", run_after=future))
    first = tx(runtime, lambda j: j.enqueue("probe"))
    second = tx(runtime, lambda j: j.enqueue("probe"))
    assert tx(runtime, lambda j: j.claim("w", ["probe"], job_id=second.id)).id == second.id
    assert tx(runtime, lambda j: j.claim("w", ["probe"])).id == first.id
    assert tx(runtime, lambda j: j.claim("w", ["probe"])) is None  # `later` is not due
    assert tx(runtime, lambda j: j.claim("w", ["probe"], now=future)).id == later.id


def test_concurrent_claims_take_each_job_once(runtime):
    """Eight threads, each claiming in its own transaction on its own connection, race for
    every job: no job is claimed twice, none is left."""
    ids = tx(runtime, lambda j: [j.enqueue("probe").id for _ in range(60)])
    barrier = threading.Barrier(8)
    taken: list[int] = []
    lock = threading.Lock()

    def claimer(n):
        barrier.wait()
        while True:
            job = tx(runtime, lambda j: j.claim(f"t{n}", ["probe"]))
            if job is None:
                return
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)


def test_enqueue_limit_holds_under_concurrency(runtime, queue):
    """max_active (Bulk Data's 429) counts queued and running jobs of the kind, per requester;
    concurrent kick-offs cannot overshoot it."""
    barrier = threading.Barrier(8)
    made = []

    def kick_off():
        barrier.wait()
        made.append(queue.enqueue("probe", requested_by="client-a", max_active=3))

    threads = [threading.Thread(target=kick_off) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(job is not None for job in made) == 3
    assert queue.enqueue("probe", requested_by="client-b", max_active=3) is not None
    tx(runtime, lambda j: j.cancel(next(job for job in made if job).id))
    assert queue.enqueue("probe", requested_by="client-a", max_active=3) is not None


# -- the worker --------------------------------------------------------------------------------

def test_worker_threads_run_each_job_exactly_once(runtime, queue):
    ids = [queue.enqueue("probe", {"steps": 2, "sleep": 0.01}).id for _ in range(30)]
    workers = [worker(runtime) for _ in range(4)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = probe_rows(runtime.db)
    assert Counter((job_id, step) for job_id, step, _ in rows) == \
        Counter((i, s) for i in ids for s in (0, 1))
    assert {job.state for job in queue.list(limit=100)} == {"succeeded"}
    assert len({owner for _, _, owner in rows}) > 1  # the work was shared


def test_worker_processes_run_each_job_exactly_once(runtime, queue, db_url, tmp_path):
    """Three worker processes poll the same queue; 40 jobs appear at once."""
    procs, logs = [], []
    for n in range(3):
        logs.append(tmp_path / f"worker{n}.log")
        with open(logs[-1], "wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, str(Path(jobs_support.__file__)), db_url, "--poll", "0.02"],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
    try:
        wait_for(lambda: all("started" in p.read_text() for p in logs), what="workers")
        ids = tx(runtime, lambda j: [j.enqueue("probe", {"steps": 3}).id for _ in range(40)])
        wait_for(lambda: all(j.terminal for j in queue.list(limit=100)), what="the jobs")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    assert [p.returncode for p in procs] == [0, 0, 0]
    rows = probe_rows(runtime.db)
    assert Counter((job_id, step) for job_id, step, _ in rows) == \
        Counter((i, s) for i in ids for s in range(3))
    jobs = queue.list(limit=100)
    assert {(j.state, j.attempts) for j in jobs} == {("succeeded", 1)}
    # each job's steps all ran in the worker that the job row names
    by_job = {}
    for job_id, _step, owner in rows:
        by_job.setdefault(job_id, set()).add(owner)
    assert all(by_job[j.id] == {j.owner} for j in jobs)
    assert "stopped after" in logs[0].read_text()


def test_failure_is_retried_then_kept_with_its_message(runtime, queue, caplog):
    job = queue.enqueue("probe", {"fail": "boom at step 1"})
    w = worker(runtime)
    with caplog.at_level(logging.INFO, logger="fhirsvc.jobs"):
        first = w.run_one()
    assert (first.state, first.attempts, first.error) == ("queued", 1,
                                                          "ValueError: boom at step 1")
    assert first.owner is None and first.cursor == 1  # resumes after its last step
    tx(runtime, lambda j: j.conn.execute(update(J).where(J.c.id == job.id)
                                         .values(max_attempts=2)))
    second = w.run_one()
    assert (second.state, second.attempts, second.error) == ("failed", 2,
                                                             "ValueError: boom at step 1")
    assert second.finished is not None
    # the log has the stack trace; the job row has only the message
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)
    assert "Traceback" not in second.error
    assert [s for _, s, _ in probe_rows(runtime.db, job.id)] == [0]  # step 0 ran once


def test_job_error_fails_at_once(runtime, queue):
    queue.enqueue("broken")
    job = worker(runtime).run_one()
    assert (job.state, job.attempts, job.error) == ("failed", 1, "the input file is gone")


def test_retry_later_does_not_use_an_attempt(runtime, queue):
    queue.enqueue("later")
    t0 = now_micros()
    job = worker(runtime).run_one()
    assert (job.state, job.attempts, job.cursor, job.owner) == ("queued", 0, {"page": 2}, None)
    assert job.run_after >= t0 + 30_000_000
    assert worker(runtime).run_one() is None  # not due yet


def test_cancel_a_queued_job_at_once(queue):
    job = queue.enqueue("probe")
    cancelled = queue.cancel(job.id)
    assert (cancelled.state, cancelled.cancel_requested) == ("cancelled", True)
    assert cancelled.finished is not None
    assert queue.cancel(job.id).state == "cancelled"  # again: no change
    assert queue.cancel(10**9) is None


def test_cancel_a_running_job_stops_it_at_its_next_checkpoint(runtime, queue):
    job = queue.enqueue("probe", {"steps": 1000, "sleep": 0.01})
    w = worker(runtime)
    ended = {}
    t = threading.Thread(target=lambda: ended.update(job=w.run_one()))
    t.start()
    wait_for(lambda: queue.get(job.id).progress_done >= 3, what="progress")
    assert queue.cancel(job.id).state == "running"  # asked; the handler stops by itself
    t.join(timeout=60)
    final = ended["job"]
    assert final.state == "cancelled" and final.finished is not None
    steps = [s for _, s, _ in probe_rows(runtime.db, job.id)]
    assert steps == list(range(final.progress_done)) and len(steps) < 1000  # work kept


def test_stopping_worker_puts_its_job_back(runtime, queue):
    job = queue.enqueue("probe", {"steps": 1000, "sleep": 0.01})
    w = worker(runtime)
    t = threading.Thread(target=w.run)
    t.start()
    wait_for(lambda: queue.get(job.id).progress_done >= 2, what="progress")
    w.stop()
    t.join(timeout=60)
    back = queue.get(job.id)
    assert (back.state, back.owner, back.attempts) == ("queued", None, 0)
    assert back.cursor == back.progress_done >= 2
    # the next worker carries on where it stopped
    tx(runtime, lambda j: j.conn.execute(update(J).where(J.c.id == job.id)
                                         .values(params=orjson.dumps({"steps": 5}).decode())))
    assert worker(runtime).run_one().state == "succeeded"
    steps = [s for _, s, _ in probe_rows(runtime.db, job.id)]
    assert steps == list(range(5))


def test_expired_heartbeat_job_is_taken_over_and_resumed(runtime, queue):
    job = queue.enqueue("probe", {"steps": 4})
    # worker A claims it, does two steps, then goes silent (crashed, or paused)
    a = tx(runtime, lambda j: j.claim("worker-a", ["probe"]))
    ctx_a = JobContext(a, runtime, "worker-a", threading.Event())
    for step in range(2):
        with ctx_a.step() as uow:
            uow.conn.execute(probe_runs.insert().values(job_id=job.id, step=step,
                                                        owner="worker-a"))
            ctx_a.checkpoint(step + 1, done=step + 1)
    # A's heartbeat is fresh: nobody takes the job over
    b = worker(runtime, expiry=60)
    assert b.requeue_expired() == [] and b.run_one() is None
    # older than B's expiry (0 s here, so no waiting): B requeues, claims and resumes it
    b = worker(runtime, expiry=0)
    assert b.requeue_expired() == [(job.id, "queued")]
    requeued = queue.get(job.id)
    assert "no heartbeat from worker worker-a" in requeued.error
    b = worker(runtime)  # B runs it with the usual expiry (heartbeats every 15 s)
    done = b.run_one()
    assert (done.state, done.attempts, done.owner) == ("succeeded", 2, b.owner)
    assert probe_rows(runtime.db, job.id) == [(job.id, 0, "worker-a"), (job.id, 1, "worker-a"),
                                              (job.id, 2, b.owner), (job.id, 3, b.owner)]
    # A wakes up: its next step is rolled back, it learns the job is gone
    with pytest.raises(JobLost):
        with ctx_a.step() as uow:
            uow.conn.execute(probe_runs.insert().values(job_id=job.id, step=99,
                                                        owner="worker-a"))
            ctx_a.checkpoint(3, done=3)
    assert len(probe_rows(runtime.db, job.id)) == 4
    assert ctx_a.cursor == 2  # the cursor of its last committed step


def test_expired_heartbeat_without_attempts_left_fails(runtime, queue):
    job = queue.enqueue("probe")
    tx(runtime, lambda j: j.conn.execute(update(J).where(J.c.id == job.id)
                                         .values(max_attempts=1)))
    tx(runtime, lambda j: j.claim("gone", ["probe"]))
    cancelled = queue.enqueue("probe")
    tx(runtime, lambda j: j.claim("gone", ["probe"], job_id=cancelled.id))
    queue.cancel(cancelled.id)
    assert sorted(worker(runtime, expiry=0).requeue_expired()) == [(job.id, "failed"),
                                                                  (cancelled.id, "cancelled")]
    failed = queue.get(job.id)
    assert failed.error.startswith("no heartbeat from worker gone") and failed.finished


def test_heartbeat_keeps_a_slow_step_alive_and_passes_on_cancel(runtime, queue):
    """A handler inside one long call still beats; a cancellation reaches it through the
    heartbeat and wakes its sleep."""
    job = queue.enqueue("probe", {"steps": 1, "sleep": 120})
    w = worker(runtime, expiry=2)  # beats every 0.5 s
    ended = {}
    t = threading.Thread(target=lambda: ended.update(job=w.run_one()))
    t.start()
    wait_for(lambda: queue.get(job.id).progress_done == 1, what="the step")
    first = queue.get(job.id).heartbeat
    wait_for(lambda: queue.get(job.id).heartbeat > first, what="a heartbeat")
    other = worker(runtime, expiry=2)
    assert other.requeue_expired() == []  # alive, though it has not checkpointed since
    queue.cancel(job.id)
    t.join(timeout=30)
    assert ended["job"].state == "cancelled"


def test_expired_results_are_cleaned_up_and_deleted(runtime, queue):
    job = queue.enqueue("expiring")
    kept = queue.enqueue("probe")
    w = worker(runtime)
    assert w.run_one().state == "succeeded"
    assert w.run_one().id == kept.id
    w.upkeep(force=True)
    assert jobs_support.cleaned == [job.id]
    assert queue.get(job.id) is None and queue.get(kept.id) is not None


def test_unknown_kind_is_refused(runtime, queue):
    with pytest.raises(ValueError, match="unknown job kind 'nope'"):
        queue.enqueue("nope")
    with pytest.raises(ValueError, match="unknown job kind"):
        Worker(runtime, test_kinds(), only=["nope"])


# -- the reindex kind --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def patients(runtime):
    """60 patients, one deleted, one updated, and a SearchParameter stored as a resource
    (not yet known to anything: a reindex must pick it up)."""
    with runtime.db.unit_of_work(write=True) as uow:
        stored = uow.resources.create_many([("Patient", f"rx{n}", patient(n), "POST")
                                            for n in range(60)])
        uow.resources.save("Patient", "rx5", None, "DELETE", stored[5])
        uow.resources.save("Patient", "rx6", patient(106), "PUT", stored[6])
        uow.commit()
    return stored


def search_ids(runtime, params) -> set[str]:
    with runtime.db.unit_of_work() as uow:
        bundle = runtime.search_engine.search(uow, "Patient", params + [("_count", "1000")],
                                              base_url="http://x/fhir")
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


def test_reindex_rebuilds_every_row_and_learns_stored_search_parameters(runtime, queue,
                                                                        patients):
    store_site_param(runtime)
    wipe_index(runtime)
    job = queue.enqueue("reindex", {"batch": 7})
    done = worker(runtime).run_one()
    assert done.id == job.id and done.state == "succeeded"
    with runtime.db.unit_of_work() as uow:
        total = uow.resources.count(include_deleted=True)
        live = uow.resources.count()
    assert done.result == {"indexed": live, "resources": total}
    assert (done.progress_done, done.progress_total) == (total, total)
    assert index_rows(runtime.db) == expected_rows(runtime)
    assert not any(r[1] == patients[5].pk for r in index_rows(runtime.db))  # the deleted one
    # rx6 was updated from a hand to an elbow (patient(106))
    assert search_ids(runtime, [("calcinosis-site", "hand")]) == \
        {f"rx{n}" for n in range(60) if n % 3 == 0 and n != 6}
    assert "rx6" in search_ids(runtime, [("calcinosis-site", "elbow")])


def test_reindex_batch_extracts_again_what_changed_after_it_was_read(runtime, patients):
    """Rows are extracted before the write transaction: a resource updated or deleted in
    between is extracted again under the lock, so its rows match its newest version."""
    from fhirsvc.jobs.reindex import read_batch, write_batch
    first = patients[20].pk
    batch = read_batch(runtime.db, runtime.db.indexer, first - 1, 4)  # rx20 .. rx23
    assert batch.pks == [s.pk for s in patients[20:24]]
    with runtime.db.unit_of_work(write=True) as uow:
        rx20 = uow.resources.read("Patient", "rx20")
        uow.resources.save("Patient", "rx20", patient(2000), "PUT", rx20)
        rx22 = uow.resources.read("Patient", "rx22")
        uow.resources.save("Patient", "rx22", None, "DELETE", rx22)
        uow.commit()
    with runtime.db.unit_of_work(write=True) as uow:
        assert write_batch(uow, runtime.db.indexer, batch) == 3
        uow.commit()
    ours = set(batch.pks)
    assert Counter({r: n for r, n in index_rows(runtime.db).items() if r[1] in ours}) == \
        Counter({r: n for r, n in expected_rows(runtime).items() if r[1] in ours})
    assert search_ids(runtime, [("family", "Reindex2000")]) == {"rx20"}


def test_reindex_resumes_after_its_checkpoint(runtime, queue, patients):
    """A resumed reindex does only the resources after its cursor."""
    middle = patients[30].pk
    job = queue.enqueue("reindex", {"batch": 10})
    claimed = tx(runtime, lambda j: j.claim("crashed", ["reindex"]))
    tx(runtime, lambda j: j.checkpoint(job.id, "crashed", cursor={"after": middle, "seen": 31,
                                                                   "indexed": 30}, done=31))
    wipe_index(runtime)  # so what the resumed run wrote is plain to see
    assert worker(runtime, expiry=0).requeue_expired() == [(claimed.id, "queued")]
    done = worker(runtime).run_one()
    assert done.state == "succeeded" and done.attempts == 2
    rows = index_rows(runtime.db)
    assert {r[1] for r in rows} == {s.pk for s in iter_current(runtime) if s.pk > middle}
    expected = expected_rows(runtime)
    assert rows == Counter({r: n for r, n in expected.items() if r[1] > middle})


def iter_current(runtime):
    with runtime.db.unit_of_work() as uow:
        return list(uow.resources.iter_current())


def test_reindex_cancelled_between_batches_leaves_whole_resources(runtime, queue, patients):
    wipe_index(runtime)
    job = queue.enqueue("reindex", {"batch": 2, "pause": 0.05})
    ended = {}
    t = threading.Thread(target=lambda: ended.update(job=worker(runtime).run_one()))
    t.start()
    wait_for(lambda: queue.get(job.id).progress_done >= 6, what="progress")
    queue.cancel(job.id)
    t.join(timeout=60)
    final = ended["job"]
    assert final.state == "cancelled" and final.progress_done < final.progress_total
    after = final.cursor["after"]
    rows = index_rows(runtime.db)
    expected = expected_rows(runtime)
    # every resource up to the cursor has all its rows, none after it has any
    assert rows == Counter({r: n for r, n in expected.items() if r[1] <= after})
    assert queue.enqueue("reindex") and worker(runtime).run_one().state == "succeeded"
    assert index_rows(runtime.db) == expected


def test_reindex_alongside_concurrent_updates_ends_exact(runtime, queue, patients):
    """Writers keep updating patients while the reindex runs in small batches: the index
    ends exactly as a from-scratch one (no batch overwrites a newer version's rows)."""
    stop = threading.Event()
    writes = []

    errors = []

    def writer(first):
        n = 0
        try:
            while not stop.is_set():
                rid = f"rx{first + n % 20}"
                with runtime.db.unit_of_work(write=True) as uow:
                    current = uow.resources.read("Patient", rid, for_update=True)
                    uow.resources.save("Patient", rid, patient(1000 + n), "PUT", current)
                    uow.commit()
                writes.append(rid)
                n += 1
        except Exception as exc:  # a deadlock here would be a failure of the test
            errors.append(exc)

    job = queue.enqueue("reindex", {"batch": 2})
    writers = [threading.Thread(target=writer, args=(first,)) for first in (10, 30)]
    for t in writers:
        t.start()
    try:
        done = worker(runtime).run_one()
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert done.id == job.id and done.state == "succeeded"
    assert writes and not errors  # the writers did run meanwhile, undisturbed
    assert index_rows(runtime.db) == expected_rows(runtime)


def test_reindex_parameters_are_checked(queue):
    for bad, message in (({"batch": 0}, "batch must be"), ({"batch": "10"}, "batch must be"),
                         ({"pause": -1}, "pause must be"), ({"size": 3}, "not size")):
        with pytest.raises(ValueError, match=message):
            queue.enqueue("reindex", bad)


# -- the CLI -----------------------------------------------------------------------------------

@pytest.fixture()
def cli(db_url, monkeypatch):
    from fhirsvc.cli import main
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setenv("FHIRSVC_DATABASE_URL", db_url)
    yield main
    for s, h in saved.items():
        signal.signal(s, h)


def test_cli_reindex_worker_and_jobs(runtime, queue, patients, cli, capsys):
    wipe_index(runtime)
    assert cli(["reindex", "--batch", "25"]) == 0
    out = capsys.readouterr().out
    live = len(iter_current(runtime))
    assert f"reindexed {live} resources" in out
    assert index_rows(runtime.db) == expected_rows(runtime)

    assert cli(["reindex", "--no-wait"]) == 0
    queued = queue.list(kind="reindex", states=["queued"])
    assert len(queued) == 1 and "queued" in capsys.readouterr().out
    assert cli(["jobs", "list", "--state", "queued"]) == 0
    listing = capsys.readouterr().out
    assert f"{queued[0].id}  reindex" in listing and "succeeded" not in listing
    assert cli(["worker", "--once", "--poll", "0.01", "--kinds", "reindex"]) == 0
    assert queue.get(queued[0].id).state == "succeeded"
    assert cli(["jobs", "show", str(queued[0].id)]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["state"] == "succeeded" and shown["result"]["indexed"] == live

    assert cli(["reindex", "--no-wait"]) == 0
    pending = queue.list(kind="reindex", states=["queued"])[0]
    capsys.readouterr()
    assert cli(["jobs", "cancel", str(pending.id)]) == 0
    assert f"job {pending.id}: cancelled" in capsys.readouterr().out
    assert cli(["jobs", "show", "999999"]) == 1
    assert cli(["reindex", "--batch", "0"]) == 2
    assert "batch must be" in capsys.readouterr().err


def test_reindex_command_follows_a_job_another_worker_runs(runtime, queue, patients, db_url,
                                                          capsys):
    """A job some worker process has is not run again here: `reindex` waits for it."""
    from fhirsvc.cli import run_or_wait
    job = queue.enqueue("reindex", {"batch": 5, "pause": 0.05})
    env = dict(os.environ, FHIRSVC_DATABASE_URL=db_url)
    proc = subprocess.Popen([sys.executable, "-m", "fhirsvc", "worker", "--poll", "0.05"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: queue.get(job.id).state == "running", what="the worker process")
        here = Worker(runtime)
        final = run_or_wait(here, queue, job.id, poll=0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert final.state == "succeeded" and final.attempts == 1
    assert f":{proc.pid}:" in final.owner and here.owner != final.owner
    assert f"(running in {final.owner})" in capsys.readouterr().out
