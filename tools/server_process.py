"""Start and stop a real `python -m fhirsvc serve` process (end-to-end tests, benchmarks)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db_url: str, workdir: Path, workers: int = 3, env: dict | None = None,
                 examples_dir: Path | None = None):
        """`examples_dir`: serve loads the examples found there, as `make run` does (none
        by default)."""
        self.db_url, self.workdir, self.workers = db_url, workdir, workers
        self.examples_dir = examples_dir
        self.extra_env = env or {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"server-{self.port}.log"

    def start(self) -> "Server":
        (self.workdir / "no-examples").mkdir(exist_ok=True)
        # no MLLP listener unless a test asks for one (2575 is a fixed port)
        env = dict(os.environ, FHIRSVC_MLLP_PORT="0")
        examples = self.examples_dir or self.workdir / "no-examples"
        env = dict(env, FHIRSVC_DATABASE_URL=self.db_url, FHIRSVC_PORT=str(self.port),
                   FHIRSVC_HOST="127.0.0.1", FHIRSVC_EXAMPLES_DIR=str(examples), **self.extra_env)
        with open(self.log, "ab") as out:
            # own process group, so a kill reaches gunicorn's workers too
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fhirsvc", "serve", "--workers", str(self.workers)]
                + ([] if self.examples_dir else ["--no-examples"]), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.base + "/metadata", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy machine
                time.sleep(0.2)
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.log.read_text()[-3000:])
        self.kill()
        raise RuntimeError("server did not start: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown, no rollback by the app."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def running_server(db_url: str, workdir: Path, workers: int = 3):
    srv = Server(db_url, workdir, workers).start()
    try:
        yield srv
    finally:
        srv.stop()
