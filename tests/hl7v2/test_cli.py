"""`python -m fhirsvc mllp` and `convert-hl7v2` as processes (ephemeral ports only)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from hl7.client import MLLPClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "hl7v2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_convert_hl7v2_prints_bundles(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    out = subprocess.run([sys.executable, "-m", "fhirsvc", "convert-hl7v2", "--database-url", db,
                          str(EXAMPLES / "case-a-labs.oru-r01.hl7")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"resourceType": "Bundle"' in out.stdout and "17861-6" in out.stdout
    bad = tmp_path / "bad.hl7"
    bad.write_text("not hl7")
    out = subprocess.run([sys.executable, "-m", "fhirsvc", "convert-hl7v2", "--database-url", db,
                          str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "FAILED (400)" in out.stderr


def test_mllp_command_with_mllp_send(tmp_path):
    port = free_port()
    db = f"sqlite:///{tmp_path / 'm.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "fhirsvc", "mllp", "--database-url", db,
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        while line and "MLLP listening" not in line:
            line = proc.stdout.readline()
        assert "MLLP listening" in line, line
        # python-hl7's mllp_send command line tool, reading a file of CR-separated messages
        out = subprocess.run([sys.executable, "-c", "from hl7.client import mllp_send; "
                              "mllp_send()", "--port", str(port), "--loose", "--file",
                              str(EXAMPLES / "case-a-admission.adt-a01.hl7"), "127.0.0.1"],
                             capture_output=True, text=True, timeout=120)
        assert "MSA|" in out.stdout and "|AR|" not in out.stdout, out.stdout + out.stderr
        with MLLPClient("127.0.0.1", port) as client:
            ack = client.send_message((EXAMPLES / "case-a-admission.adt-a01.hl7").read_text())
        assert b"MSA|" in ack  # a resend: answered from the log
    finally:
        proc.terminate()
        proc.wait(30)


def _busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_mllp_busy_port_fails_fast_with_one_line(tmp_path):
    sock, port = _busy_port()
    with sock:
        out = subprocess.run([sys.executable, "-m", "fhirsvc", "mllp", "--database-url",
                              f"sqlite:///{tmp_path / 'b.db'}", "--port", str(port)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen for MLLP on 127.0.0.1:{port}" in lines[0], lines
    assert "--port" in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "b.db").exists()  # refused before migrating anything


def test_serve_refuses_to_start_half_when_the_mllp_port_is_busy(tmp_path):
    sock, port = _busy_port()
    env = dict(os.environ, FHIRSVC_MLLP_PORT=str(port), FHIRSVC_WORKER="off")
    with sock:
        out = subprocess.run([sys.executable, "-m", "fhirsvc", "serve", "--no-examples",
                              "--database-url", f"sqlite:///{tmp_path / 's.db'}",
                              "--port", str(free_port())], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen for MLLP on 127.0.0.1:{port}" in lines[0], lines
    assert "FHIRSVC_MLLP_PORT" in lines[0]
    assert not (tmp_path / "s.db").exists()


def test_a_listener_that_dies_stops_serve():
    """The port taken between serve's check and the listener's bind: the listener exits 2 and
    serve is told to stop (it then exits 2 too) instead of serving HTTP alone."""
    import threading

    from fhirsvc.cli import _watch_mllp
    stopped = threading.Event()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(2)"])
    failed = _watch_mllp(proc, stop=stopped.set)
    assert stopped.wait(60) and failed.is_set()
    # a listener stopped by serve itself (SIGTERM) is not a failure
    stopped.clear()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    failed = _watch_mllp(proc, stop=stopped.set)
    proc.terminate()
    proc.wait(30)
    assert not stopped.wait(1) and not failed.is_set()
