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
"""
from __future__ import annotations

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


class BodyDeadline:
    """WSGI middleware: a request body must arrive within `timeout` seconds."""

    def __init__(self, app, timeout: float, tick: float = 0.25):
        self.app, self.timeout, self.tick = app, timeout, tick
        self._pending: dict[int, tuple[float, socket.socket, dict]] = {}
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            HEADERS.disarm(sock)             # the head has arrived: the app has the request
        length = environ.get("CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if sock is None or self.timeout <= 0 or not (chunked or (length and length != "0")):
            return self.app(environ, start_response)
        key = id(environ)

        def done():
            with self._lock:
                self._pending.pop(key, None)
        with self._lock:
            self._pending[key] = (time.monotonic() + self.timeout, sock, environ)
        self._ensure_watchdog()
        environ["wsgi.input"] = _Input(environ["wsgi.input"],
                                       None if chunked else int(length), done)
        try:
            return self.app(environ, start_response)
        finally:
            done()

    def _ensure_watchdog(self) -> None:
        # started lazily: gunicorn forks workers after the app is built, threads do not fork
        if self._watchdog is None or not self._watchdog.is_alive():
            with self._lock:
                if self._watchdog is None or not self._watchdog.is_alive():
                    self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                                      name="fhirsvc-body-deadline")
                    self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                overdue = [(k, s, e) for k, (d, s, e) in self._pending.items() if d < now]
                for k, _s, _e in overdue:
                    self._pending.pop(k, None)
            for _k, sock, environ in overdue:
                environ[TIMED_OUT] = True
                try:
                    sock.shutdown(socket.SHUT_RD)   # the blocked read returns; answer 408
                except OSError:
                    pass


class HeaderDeadline:
    """Request heads (request line and headers) must be complete within `timeout` seconds of
    a pool thread taking the connection (module docstring). One per worker process."""

    def __init__(self, timeout: float = 0.0, tick: float = 0.25):
        self.timeout, self.tick = timeout, tick
        self._pending: dict[int, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    def arm(self, sock) -> None:
        if self.timeout <= 0:
            return
        try:
            fd = sock.fileno()
        except OSError:
            return
        with self._lock:
            self._pending[fd] = (time.monotonic() + self.timeout, sock)
            if self._watchdog is None or not self._watchdog.is_alive():
                # started lazily: gunicorn forks workers after `serve` set the timeout
                self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                                  name="fhirsvc-header-deadline")
                self._watchdog.start()

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

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                overdue = [(fd, s) for fd, (d, s) in self._pending.items() if d < now]
                for fd, _s in overdue:
                    self._pending.pop(fd, None)
            for _fd, sock in overdue:
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
    """WSGI middleware: cancel the database work of a request whose client went away."""

    def __init__(self, app, cancel, tick: float = 0.25):
        self.app, self.cancel, self.tick = app, cancel, tick
        self._active: dict[int, tuple[int, object]] = {}
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is None:
            return self.app(environ, start_response)
        key = id(environ)
        with self._lock:
            self._active[key] = (threading.get_ident(), sock)
            if self._watchdog is None or not self._watchdog.is_alive():
                self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                                  name="fhirsvc-abandoned-requests")
                self._watchdog.start()
        try:
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self._active.pop(key, None)

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            with self._lock:
                active = list(self._active.items())
            for key, (ident, sock) in active:
                if client_gone(sock):
                    with self._lock:
                        still = key in self._active
                    if still:
                        self.cancel(ident)
