"""The serving middleware's one deadline thread per process (`serving.Timers`): deadlines run in
order at their time, a cancelled one never runs and holds nothing, the thread sleeps while
nothing is pending, a forked child gets its own thread, and the abandoned-request polling
stops when no request is active. No database."""
from __future__ import annotations

import os
import socket
import threading
import time

from fhirsvc.serving import Abandonment, BodyDeadline, HeaderDeadline, Timers


def test_deadlines_run_in_order_and_cancelled_ones_never():
    timers = Timers()
    ran: list[str] = []
    done = threading.Event()
    timers.schedule(0.30, lambda: (ran.append("late"), done.set()))
    cancelled = timers.schedule(0.10, lambda: ran.append("cancelled"))
    timers.schedule(0.05, lambda: ran.append("early"))   # earlier than the thread's sleep
    Timers.cancel(cancelled)
    assert cancelled[2] is None                          # the callback (and its socket) let go
    assert done.wait(5)
    assert ran == ["early", "late"]
    assert timers.pending() == 0


def test_the_thread_sleeps_while_nothing_is_pending():
    timers = Timers()
    calls = []
    timers.schedule(0.01, lambda: calls.append(1))
    time.sleep(0.2)
    thread = timers._thread
    assert calls == [1] and thread.is_alive()
    assert timers._wake_at == float("inf")               # waiting with no timeout: no ticks


def test_a_failing_callback_does_not_stop_the_others():
    timers = Timers()
    done = threading.Event()
    timers.schedule(0.01, lambda: 1 / 0)
    timers.schedule(0.05, done.set)
    assert done.wait(5)


def test_a_forked_child_runs_its_own_deadlines():
    timers = Timers()
    timers.schedule(0.01, lambda: None)                  # the parent's thread is running
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                         # the child: its own thread and lock
        try:
            done = threading.Event()
            timers.schedule(0.01, done.set)
            os.write(w, b"1" if done.wait(5) else b"0")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(r)


def test_a_body_deadline_is_cancelled_when_the_request_ends():
    timers = Timers()
    server, client = socket.socketpair()
    try:
        seen = []
        app = BodyDeadline(lambda environ, sr: seen.append(timers.pending()) or [b""], 30,
                           timers=timers)
        environ = {"gunicorn.socket": server, "CONTENT_LENGTH": "5",
                   "wsgi.input": __import__("io").BytesIO(b"hello")}
        app(environ, lambda *a: None)
        assert seen == [1] and timers.pending() == 0
    finally:
        server.close()
        client.close()


def test_an_overdue_body_shuts_the_read_side():
    timers = Timers()
    server, client = socket.socketpair()
    try:
        def app(environ, start_response):
            data = environ["wsgi.input"].read(5)     # the client never sends: blocks
            return [data]
        import fhirsvc.serving as serving
        environ = {"gunicorn.socket": server, "CONTENT_LENGTH": "5",
                   "wsgi.input": server.makefile("rb")}
        t0 = time.monotonic()
        assert BodyDeadline(app, 0.2, timers=timers)(environ, lambda *a: None) == [b""]
        assert environ.get(serving.TIMED_OUT) is True and time.monotonic() - t0 < 5
    finally:
        server.close()
        client.close()


def test_header_deadline_times_out_and_disarm_cancels():
    timers = Timers()
    heads = HeaderDeadline(0.2, timers=timers)
    a_srv, a_cli = socket.socketpair()
    b_srv, b_cli = socket.socketpair()
    try:
        heads.arm(a_srv)
        heads.arm(b_srv)
        heads.disarm(b_srv)                      # its head arrived
        a_cli.settimeout(5)
        answer = a_cli.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408")
        time.sleep(0.3)
        b_cli.setblocking(False)
        try:
            got = b_cli.recv(10)
        except BlockingIOError:
            got = None
        assert got is None                       # nothing sent, socket still open
        assert timers.pending() == 0
    finally:
        for s in (a_srv, a_cli, b_srv, b_cli):
            s.close()


def test_abandonment_polls_only_while_requests_are_active():
    timers = Timers()
    cancelled = []
    release = threading.Event()

    def app(environ, start_response):
        release.wait(5)
        return [b""]
    served = Abandonment(app, cancelled.append, tick=0.05, timers=timers)
    server, client = socket.socketpair()
    try:
        t = threading.Thread(target=lambda: served({"gunicorn.socket": server},
                                                   lambda *a: None))
        t.start()
        time.sleep(0.2)
        assert served._polling and not cancelled
        client.close()                           # the client hangs up: its work is cancelled
        time.sleep(0.3)
        assert cancelled and cancelled[0] == t.ident
        release.set()
        t.join(5)
        time.sleep(0.2)
        assert not served._polling and timers.pending() == 0   # no request: no polling
    finally:
        server.close()
