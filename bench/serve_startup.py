"""How long `fhirsvc serve` (what `make run` starts) takes to answer, from the checkout it is run
from: a fresh SQLite database, examples/ loaded (as `make run` does; `--no-examples` not),
2 workers, the job worker and the MLLP listener off. Prints the wall time from spawn to the
first `/metadata` answer and the CPU of the server's processes by then, per run.

    python bench/serve_startup.py [--runs N] [--no-examples] [--env NAME=VALUE ...]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request


def tree_cpu(root: int) -> float:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        q = todo.pop()
        todo += kids.get(q, [])
        try:
            f = open(f"/proc/{q}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # with reaped children
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-examples", action="store_true")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = ap.parse_args()
    for _ in range(args.runs):
        d = tempfile.mkdtemp(prefix="fhirsvc_startup_")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        env = dict(os.environ, FHIRSVC_DATABASE_URL=f"sqlite:///{d}/x.db", FHIRSVC_PORT=str(port),
                   FHIRSVC_WORKER="off", FHIRSVC_MLLP_PORT="0",
                   FHIRSVC_EXPORT_DIR=f"{d}/exports", FHIRSVC_PSEUDONYM_KEY_FILE=f"{d}/key",
                   FHIRSVC_AUTH_SIGNING_KEY=f"{d}/signing.pem")
        env.update(kv.split("=", 1) for kv in args.env)
        cmd = [".venv/bin/python", "-m", "fhirsvc", "serve", "--workers", "2"]
        if args.no_examples:
            cmd.append("--no-examples")
        t = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fhir/metadata",
                                                timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if p.poll() is not None:
                        raise SystemExit(f"serve exited with {p.returncode}")
                    time.sleep(0.02)
            wall = time.perf_counter() - t
            print(f"serve{' --no-examples' if args.no_examples else ''}: first answer after "
                  f"{wall:.2f} s, server CPU {tree_cpu(p.pid):.2f} s")
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
