"""HTTP edges against a real server process (gunicorn): errors the server itself answers are
OperationOutcomes too (a request line over the limit, a chunked body over the size limit), and
slow clients sending a body a byte at a time do not stop it answering others."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from tools.server_process import ROOT, Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    # properties of the HTTP layer, checked on both databases all the same (issue 9: every
    # reproducer of the attack battery runs on both)
    work = tmp_path_factory.mktemp("edges")
    srv = Server(db_url, work, workers=1,
                 env={"FHIRSVC_MAX_REQUEST_BYTES": str(1024 * 1024),
                      "FHIRSVC_REQUEST_BODY_TIMEOUT": "2",
                      "FHIRSVC_REQUEST_HEADER_TIMEOUT": "2"}).start()
    yield srv
    srv.stop()


def _outcome(resp, status):
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("application/fhir+json")
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_request_line_over_the_limit_is_414_outcome(server):
    resp = requests.get(server.base + "/Patient?name=" + "x" * 9000, timeout=30)
    issue = _outcome(resp, 414)
    assert "_search" in issue["details"]["text"]
    # long but under the limit is served
    assert requests.get(server.base + "/Patient?name=" + "x" * 6000,
                        timeout=30).status_code == 200


def test_chunked_body_over_the_size_limit_is_413(server):
    def chunks():
        yield b'{"resourceType":"Patient","name":[{"text":"'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}]}'
    resp = requests.post(server.base + "/Patient", data=chunks(), timeout=60,
                         headers={"Content-Type": "application/fhir+json"})
    _outcome(resp, 413)


def _slow_client(port: int, stop: threading.Event) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/fhir+json\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                s.sendall(b" ")
            except OSError:
                return
            stop.wait(0.5)


def test_ten_byte_at_a_time_clients_do_not_stop_the_server(server):
    stop = threading.Event()
    slow = [threading.Thread(target=_slow_client, args=(server.port, stop), daemon=True)
            for _ in range(10)]
    for t in slow:
        t.start()
    try:
        time.sleep(1.0)   # the slow clients are connected and trickling
        t0 = time.monotonic()
        for _ in range(5):
            resp = requests.get(server.base + "/metadata?_summary=true", timeout=20)
            assert resp.status_code == 200
        assert time.monotonic() - t0 < 20
        body = json.dumps({"resourceType": "Patient"})
        assert requests.post(server.base + "/Patient", data=body, timeout=20, headers={
            "Content-Type": "application/fhir+json"}).status_code == 201
    finally:
        stop.set()
        for t in slow:
            t.join(timeout=5)


def _header_trickler(port: int, stop: threading.Event, answers: list) -> None:
    """Sends a request line and then its headers one byte every 0.3 s, never ending them."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(0.3)
        s.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n")
        got = b""
        while not stop.is_set():
            try:
                s.sendall(b"X-Slow: " if not got else b"")
                s.sendall(b"a")
            except OSError:
                break
            try:
                data = s.recv(65536)
                if not data:
                    break
                got += data
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                break
        answers.append(got)


def test_ten_clients_trickling_headers_do_not_stop_the_server(server):
    """issue 9: headers sent a byte at a time held a thread each (gunicorn reads the head in
    a pool thread); a header deadline (FHIRSVC_REQUEST_HEADER_TIMEOUT, 2 s here) frees them
    with a 408 OperationOutcome. The worker has 4 threads: without the deadline the normal
    client below waits for ever."""
    stop = threading.Event()
    answers: list[bytes] = []
    slow = [threading.Thread(target=_header_trickler, args=(server.port, stop, answers),
                             daemon=True) for _ in range(10)]
    for t in slow:
        t.start()
    try:
        time.sleep(1.0)   # every thread of the worker is reading a trickled head
        t0 = time.monotonic()
        for _ in range(3):
            resp = requests.get(server.base + "/metadata?_summary=true", timeout=30)
            assert resp.status_code == 200
        assert time.monotonic() - t0 < 20
        for t in slow:
            t.join(timeout=20)
        assert len(answers) == 10
        for got in answers:
            assert got.startswith(b"HTTP/1.1 408"), got[:200]
            assert b"application/fhir+json" in got and b"OperationOutcome" in got
    finally:
        stop.set()
        for t in slow:
            t.join(timeout=5)


def test_a_body_that_does_not_arrive_in_time_is_answered_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/fhir+json\r\nContent-Length: 1000\r\n\r\n{")
        deadline = time.monotonic() + 15
        answer = b""
        s.settimeout(0.5)
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                s.sendall(b" ")
            except OSError:
                pass
            try:
                answer += s.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"application/fhir+json" in answer


def test_a_busy_port_fails_fast_with_a_clear_message(server, tmp_path):
    env = dict(os.environ, FHIRSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'busy.db'}",
               FHIRSVC_HOST="127.0.0.1", FHIRSVC_PORT=str(server.port),
               FHIRSVC_LOAD_EXAMPLES="false", FHIRSVC_WORKER="off")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "fhirsvc", "serve"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{server.port}" in proc.stderr
    assert "FHIRSVC_PORT" in proc.stderr
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "busy.db").exists()  # nothing was migrated or loaded
