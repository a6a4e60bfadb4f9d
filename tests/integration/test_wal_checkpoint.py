"""WAL checkpoints off the writers' path (storage/checkpoint.py): commits never checkpoint in
line below the backstop, a thread of the process does, and what was committed survives a
process that dies before any checkpoint."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fhirsvc.storage import Database

PAGE = 4096
ROOT = Path(__file__).resolve().parents[2]


def _database(tmp_path, every=32, idle=1.0) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'ckpt.db'}")
    db.checkpointer.every, db.checkpointer.idle = every, idle
    with db.unit_of_work(write=True) as uow:
        uow.conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS blobs (b BLOB)")
        uow.commit()
    return db


def _commits(db, n: int, size: int = 8192) -> None:
    for _ in range(n):
        with db.unit_of_work(write=True) as uow:
            uow.conn.exec_driver_sql("INSERT INTO blobs VALUES (?)", (os.urandom(size),))
            uow.commit()


def _wal_pages(tmp_path) -> int:
    wal = tmp_path / "ckpt.db-wal"
    return wal.stat().st_size // PAGE if wal.exists() else 0


def test_postgresql_has_no_checkpointer(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: the tests below")
    db = Database(db_url)
    try:
        assert db.checkpointer is None
    finally:
        db.dispose()


def test_commits_do_not_checkpoint_in_line(tmp_path):
    # the thread held back: SQLite's own checkpoint (at 1,000 pages by default) would have
    # reset the log by now; the commits leave it to the thread, up to the backstop
    db = _database(tmp_path, every=10 ** 9, idle=3600)
    try:
        _commits(db, 140, size=40_000)        # about 1,400 pages
        assert _wal_pages(tmp_path) > 1200
        assert db.checkpointer.checkpoints == 0
        busy, frames, done = db.checkpointer.checkpoint()
        assert busy == 0 and frames > 1200 and done == frames
    finally:
        db.dispose()


def test_the_thread_checkpoints_after_every_n_commits(tmp_path):
    db = _database(tmp_path, every=8, idle=3600)
    try:
        _commits(db, 8)
        deadline = time.monotonic() + 10
        while db.checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        busy, frames, done = db.checkpointer.last
        assert busy == 0 and frames > 0 and done == frames
    finally:
        db.dispose()


def test_a_few_commits_are_checkpointed_when_the_writers_pause(tmp_path):
    db = _database(tmp_path, every=10 ** 9, idle=0.05)
    try:
        _commits(db, 2)
        deadline = time.monotonic() + 10
        while db.checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.checkpointer.checkpoints >= 1
    finally:
        db.dispose()
    assert db.checkpointer._thread is None     # dispose stopped it


def test_committed_rows_survive_a_process_that_dies_before_any_checkpoint(tmp_path):
    # the child commits 300 rows, never checkpoints, and exits without closing anything
    code = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from fhirsvc.storage import Database\n"
            f"db = Database('sqlite:///{tmp_path / 'ckpt.db'}')\n"
            "db.checkpointer.every, db.checkpointer.idle = 10 ** 9, 3600\n"
            "with db.unit_of_work(write=True) as uow:\n"
            "    uow.conn.exec_driver_sql('CREATE TABLE blobs (b BLOB)'); uow.commit()\n"
            "for i in range(300):\n"
            "    with db.unit_of_work(write=True) as uow:\n"
            "        uow.conn.exec_driver_sql('INSERT INTO blobs VALUES (?)', (b'x' * 4000,))\n"
            "        uow.commit()\n"
            "assert db.checkpointer.checkpoints == 0\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert _wal_pages(tmp_path) > 300            # everything is still in the log only
    conn = sqlite3.connect(tmp_path / "ckpt.db")
    try:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 300
    finally:
        conn.close()


def test_a_forked_child_checkpoints_with_a_thread_of_its_own(tmp_path):
    # every=1: a checkpoint is in flight at most forks; a fork taken in the middle of one
    # left SQLite's mutexes taken in the child, whose first statement then hung
    import signal
    db = _database(tmp_path, every=1, idle=3600)
    try:
        for attempt in range(15):
            _commits(db, 1)                    # the parent's thread checkpoints now
            assert db.checkpointer._thread is not None
            pid = os.fork()
            if pid == 0:                       # the child: its own thread, after its commit
                ok = False
                try:
                    ok = db.checkpointer._thread is None
                    db.engine.dispose(close=False)  # the parent's connections stay its own
                    before = db.checkpointer.checkpoints
                    _commits(db, 1)
                    deadline = time.monotonic() + 10
                    while db.checkpointer.checkpoints == before and \
                            time.monotonic() < deadline:
                        time.sleep(0.005)
                    ok = ok and db.checkpointer._thread.is_alive() and \
                        db.checkpointer.checkpoints > before
                finally:
                    os._exit(0 if ok else 1)
            deadline = time.monotonic() + 20
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    pytest.fail(f"fork {attempt}: the child hung")
                time.sleep(0.01)
            assert os.waitstatus_to_exitcode(status) == 0, f"fork {attempt}"
    finally:
        db.dispose()
