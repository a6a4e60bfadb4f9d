"""What the production server (gunicorn, `python -m fhirsvc serve`) adds around the app.

- Errors gunicorn answers itself (a request line over `limit_request_line`, malformed
  headers, ...) are OperationOutcomes, not gunicorn's HTML pages: gunicorn writes them through
  `gunicorn.util.write_error`, which has no hook, so `install_error_pages` replaces that one
  function in the server process.
- Slow clients: gunicorn's gthread worker waits for a connection's first bytes off the thread
  pool, but then a thread reads the request body for as long as the client takes. A client
  trickling a body a byte at a time holds a thread; ten of them used to stop the server.
  `BodyDeadline` gives every body `body_timeout` seconds: a watchdog thread shuts the read
  side of a socket whose body is overdue, the blocked read returns, and the request is
  answered 408 (the write side stays open for that answer).
- Slow heads: the request line and headers are read by a pool thread too (gunicorn's parser
  blocks on the socket until the blank line), so ten clients trickling headers a byte at a
  time held every thread. `HeaderDeadlineWorker` (the gthread worker `serve` runs) arms
  `HEADERS` when a thread takes a connection; the app's entry disarms it. A head not complete
  within `request_header_timeout` seconds is answered 408 (an OperationOutcome) by the
  watchdog, which then shuts the socket: the blocked read ends and the thread is free.
- Abandoned requests: `Abandonment` watches the socket of every request being answered; when
  the client has closed it (readable, and a peek reads end of file), the database statements
  of the request's thread are cancelled (`storage.dialect.cancel_statements`) and keep being
  cancelled until the request ends, so a runaway search does not outlive its client.

All three share one thread per worker process (`Timers`, `DEADLINES`): it sleeps until the
earliest pending deadline (a heap), not on a fixed tick, and not at all while nothing is
pending; a request arms a deadline with one heap push and disarms it by clearing the entry.
Before, each middleware had a thread of its own waking four times a second for as long as the
process lived, sampled by py-spy beside the request threads under the mixed load.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import select
import socket
import threading
import time

import orjson

from gunicorn.workers.gthread import ThreadWorker

from .outcomes import error, operation_outcome

TIMED_OUT = "fhirsvc.body_timed_out"      # environ key the watchdog sets
_PHRASES = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 417: "Expectation Failed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented"}


def port_in_use(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (None when it can)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            s.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def outcome_error_page(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error's signature, answering an OperationOutcome."""
    from gunicorn import util
    if status_int == 414:
        text = ("The request line is longer than this server accepts; send long searches as "
                "POST [type]/_search with the parameters in a form body")
        code = "too-long"
    else:
        text = f"{reason}: {mesg}" if mesg else reason
        code = "exception" if status_int >= 500 else "invalid"
    body = orjson.dumps(operation_outcome([error(code, text)]))
    head = (f"HTTP/1.1 {status_int} {_PHRASES.get(status_int, reason)}\r\n"
            f"Connection: close\r\nContent-Type: application/fhir+json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


def install_error_pages() -> None:
    from gunicorn import util
    util.write_error = outcome_error_page


class _Input:
    """wsgi.input that tells the deadline when the whole body has been read."""

    def __init__(self, stream, length: int | None, done):
        self._stream, self._left, self._done = stream, length, done

    def _count(self, data: bytes) -> bytes:
        if not data or (self._left is not None and self._left - len(data) <= 0):
            self._done()
        elif self._left is not None:
            self._left -= len(data)
        return data

    def read(self, *args):
        return self._count(self._stream.read(*args))

    def readline(self, *args):
        return self._count(self._stream.readline(*args))

    def readlines(self, *args):
        lines = self._stream.readlines(*args)
        self._done()
        return lines

    def __iter__(self):
        for line in self._stream:
            yield self._count(line)
        self._done()


class Timers:
    """Deadlines of one process, run by one thread that sleeps until the earliest of them.

    `schedule(delay, callback)` returns an entry; `cancel(entry)` clears its callback (and
    what the callback holds: the request's socket and environ), so cancelling costs no lock
    and no wake-up; cleared entries leave the heap when they reach its top. A callback may
    still run when a cancel races with its deadline: callbacks are idempotent on a finished
    request (shutting a closed socket's read side, ...). Forked children start afresh: the
    thread and the lock are made in the process that uses them."""

    def __init__(self):
        self._pid = None
        self._ensure()

    def _ensure(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._cond = threading.Condition()
            self._heap: list[list] = []
            self._seq = itertools.count()
            self._thread: threading.Thread | None = None
            self._wake_at = math.inf        # when the thread will look again (-inf: running)

    def schedule(self, delay: float, callback) -> list:
        self._ensure()
        entry = [time.monotonic() + delay, next(self._seq), callback]
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="fhirsvc-deadlines")
                self._thread.start()
            elif entry[0] < self._wake_at:
                self._cond.notify()        # earlier than the thread's sleep: wake it
        return entry

    @staticmethod
    def cancel(entry: list | None) -> None:
        if entry is not None:
            entry[2] = None

    def pending(self) -> int:
        """Deadlines not yet run or cancelled (tests)."""
        with self._cond:
            return sum(1 for e in self._heap if e[2] is not None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2] is None:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        entry = heapq.heappop(self._heap)
                        callback, entry[2] = entry[2], None
                        break
                    self._wake_at = self._heap[0][0] if self._heap else math.inf
                    self._cond.wait(None if not self._heap else self._wake_at - now)
                    self._wake_at = -math.inf
            if callback is None:
                continue
            try:
                callback()
            except Exception:  # noqa: BLE001 - one failed deadline must not stop the others
                logging.getLogger("fhirsvc.serving").exception("deadline callback failed")


DEADLINES = Timers()


class BodyDeadline:
    """WSGI middleware: a request body must arrive within `timeout` seconds."""

    def __init__(self, app, timeout: float, timers: Timers | None = None):
        self.app, self.timeout = app, timeout
        self.timers = timers or DEADLINES

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            HEADERS.disarm(sock)             # the head has arrived: the app has the request
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if sock is None or self.timeout <= 0 or not (chunked or (length and length != "0")):
            return self.app(environ, start_response)

        def overdue():
            environ[TIMED_OUT] = True
            try:
                sock.shutdown(socket.SHUT_RD)   # the blocked read returns; answer 408
            except OSError:
                pass
        entry = self.timers.schedule(self.timeout, overdue)
        environ["wsgi.input"] = _Input(environ["wsgi.input"],
                                       None if chunked else int(length),
                                       lambda: Timers.cancel(entry))
        try:
            return self.app(environ, start_response)
        finally:
            Timers.cancel(entry)


class HeaderDeadline:
    """Request heads (request line and headers) must be complete within `timeout` seconds of
    a pool thread taking the connection (module docstring). One per worker process."""

    def __init__(self, timeout: float = 0.0, timers: Timers | None = None):
        self.timeout = timeout
        self.timers = timers or DEADLINES
        self._pending: dict[int, tuple[list, socket.socket]] = {}
        self._lock = threading.Lock()

    def arm(self, sock) -> None:
        if self.timeout <= 0:
            return
        try:
            fd = sock.fileno()
        except OSError:
            return
        entry = self.timers.schedule(self.timeout, lambda: self._overdue(fd, sock))
        with self._lock:
            old = self._pending.get(fd)
            self._pending[fd] = (entry, sock)
        if old is not None:
            Timers.cancel(old[0])

    def disarm(self, sock) -> None:
        if not self._pending:
            return
        try:
            fd = sock.fileno()
        except OSError:
            return
        with self._lock:
            entry = self._pending.get(fd)
            if entry is not None and entry[1] is sock:
                del self._pending[fd]
        if entry is not None and entry[1] is sock:
            Timers.cancel(entry[0])

    def _overdue(self, fd: int, sock) -> None:
        with self._lock:
            entry = self._pending.get(fd)
            if entry is None or entry[1] is not sock:
                return                       # disarmed meanwhile
            del self._pending[fd]
        self._time_out(sock)

    def _time_out(self, sock) -> None:
        body = orjson.dumps(operation_outcome([error(
            "timeout", f"The request line and headers did not arrive within {self.timeout:g} "
                       "seconds (FHIRSVC_REQUEST_HEADER_TIMEOUT)")]))
        head = ("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                "Content-Type: application/fhir+json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            sock.send(head + body)
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)   # the blocked head read returns: thread freed
        except OSError:
            pass


HEADERS = HeaderDeadline()


class HeaderDeadlineWorker(ThreadWorker):
    """gunicorn's gthread worker with the head deadline armed while a thread reads a head."""

    def handle(self, conn):
        HEADERS.arm(conn.sock)
        try:
            return super().handle(conn)
        finally:
            HEADERS.disarm(conn.sock)


def client_gone(sock) -> bool:
    """Whether the peer of `sock` has closed it (end of file or reset; pending bytes of a
    body or of a pipelined request are not consumed)."""
    try:
        readable, _w, _x = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return True


class Abandonment:
    """WSGI middleware: cancel the database work of a request whose client went away. The
    sockets are looked at every `tick` seconds while requests are active, by the deadline
    thread (`Timers`), and not at all while none is."""

    def __init__(self, app, cancel, tick: float = 0.25, timers: Timers | None = None):
        self.app, self.cancel, self.tick = app, cancel, tick
        self.timers = timers or DEADLINES
        self._active: dict[int, tuple[int, object]] = {}
        self._lock = threading.Lock()
        self._polling = False

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is None:
            return self.app(environ, start_response)
        key = id(environ)
        with self._lock:
            self._active[key] = (threading.get_ident(), sock)
            start = not self._polling
            self._polling = True
        if start:
            self.timers.schedule(self.tick, self._poll)
        try:
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self._active.pop(key, None)

    def _poll(self) -> None:
        with self._lock:
            active = list(self._active.items())
        for key, (ident, sock) in active:
            if client_gone(sock):
                with self._lock:
                    still = key in self._active
                if still:
                    self.cancel(ident)
        with self._lock:
            # again while any request is active; else the next request starts the polling
            self._polling = bool(self._active)
            again = self._polling
        if again:
            self.timers.schedule(self.tick, self._poll)
