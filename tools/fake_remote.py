"""Small spec-following remote FHIR servers for the remote tests and benchmarks, on an
ephemeral port, with faults on demand.

    srv = FakeRemote().start()            # srv.base: http://127.0.0.1:PORT/fhir
    srv.route("GET", "/fhir/Patient", lambda req: Reply(200, bundle))
    srv.faults["GET /fhir/Patient"] = ["429:2", "503", "drop", "stall"]   # then the route
    srv.stop()

Faults, consumed one per matching request: "429[:retry-after]", "503[:retry-after]", "drop"
(close the connection without an answer), "stall" (answer nothing until the client gives up;
released at stop), "cut" (headers and half the body, then close).

`SmartServer` adds SMART Backend Services (discovery, a token endpoint that verifies the
client assertion with PyJWT against the registered public JWK, bearer checks);
`BulkServer` adds a Bulk Data export ($export kick-off, status polling with Retry-After and
X-Progress, a manifest, NDJSON files) over resources it is given.
Used until fhirsvc's own token endpoint and $export (issues 13 and 11) land.
"""
from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: list
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    content_type: str = "application/fhir+json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _serve(self):
        srv: FakeRemote = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        req = Request(self.command, parts.path, parse_qsl(parts.query, keep_blank_values=True),
                      {k.lower(): v for k, v in self.headers.items()}, body)
        srv.log.append(req)
        fault = srv.next_fault(req)
        if fault is not None:
            kind, _, arg = fault.partition(":")
            if kind in ("429", "503"):
                return self._reply(Reply(int(kind), {"resourceType": "OperationOutcome",
                                                      "issue": [{"severity": "error",
                                                                 "code": "throttled"}]},
                                         {"Retry-After": arg} if arg else {}))
            if kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "stall":
                srv.released.wait(30)
                self.close_connection = True
                return
            if kind == "cut":
                reply = srv.dispatch(req)
                data = self._bytes(reply)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self._reply(srv.dispatch(req))

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    @staticmethod
    def _bytes(reply: Reply) -> bytes:
        if reply.body is None:
            return b""
        if isinstance(reply.body, bytes):
            return reply.body
        if isinstance(reply.body, str):
            return reply.body.encode()
        return json.dumps(reply.body).encode()

    def _reply(self, reply: Reply):
        data = self._bytes(reply)
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeRemote:
    def __init__(self, path: str = "/fhir"):
        self.prefix = path
        self.routes: dict[tuple[str, str], object] = {}
        self.faults: dict[str, list[str]] = {}
        self.log: list[Request] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.base = self.origin + path
        self.route("GET", "/metadata", lambda req: Reply(200, capability()))

    def route(self, method: str, path: str, fn) -> None:
        """`path` relative to the FHIR base (or absolute when it starts with //)."""
        full = path[1:] if path.startswith("//") else self.prefix + path
        self.routes[(method, full)] = fn

    def next_fault(self, req: Request) -> str | None:
        with self._lock:
            for key in (f"{req.method} {req.path}", req.path):
                queue = self.faults.get(key)
                if queue:
                    return queue.pop(0)
        return None

    def dispatch(self, req: Request) -> Reply:
        fn = self.routes.get((req.method, req.path))
        if fn is None:
            return Reply(404, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found", "diagnostics": req.path}]})
        return fn(req)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Requests seen; `path` as for route()."""
        full = None if path is None else path[1:] if path.startswith("//") else \
            self.prefix + path
        return [r for r in self.log if (method is None or r.method == method)
                and (full is None or r.path == full)]

    def start(self) -> "FakeRemote":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def capability(transaction: bool = True) -> dict:
    return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
            "fhirVersion": "4.0.1", "format": ["json"], "date": "2024-01-01",
            "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]
                      if transaction else [{"code": "batch"}]}]}


def searchset(resources, next_url: str | None = None) -> dict:
    b = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
         "entry": [{"fullUrl": f"x/{r.get('resourceType')}/{r.get('id')}", "resource": r,
                    "search": {"mode": "match"}} for r in resources]}
    if next_url:
        b["link"] = [{"relation": "next", "url": next_url}]
    return b


# -- SMART Backend Services (server side, for the client's tests) -----------------------------
class SmartServer(FakeRemote):
    """Discovery, a token endpoint checking private_key_jwt assertions, and FHIR routes that
    need `Authorization: Bearer <issued token>` (401 otherwise)."""

    def __init__(self, public_jwk: dict, client_id: str, alg: str, expires_in: int = 300):
        super().__init__()
        import jwt
        self.client_id, self.alg, self.expires_in = client_id, alg, expires_in
        self.key = jwt.PyJWK(public_jwk, algorithm=alg)
        self.tokens: dict[str, float] = {}
        self.assertions: list[dict] = []
        self.seen_jti: set[str] = set()
        self.route("GET", "/.well-known/smart-configuration", lambda r: Reply(200, {
            "token_endpoint": self.origin + "/auth/token",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["system/*.read"]}, content_type="application/json"))
        self.route("POST", "//auth/token", self._token)
        self._open = dict(self.routes)

    def _token(self, req: Request) -> Reply:
        import jwt
        form = dict(parse_qsl(req.body.decode()))
        bad = lambda why: Reply(400, {"error": "invalid_client", "error_description": why},
                                content_type="application/json")  # noqa: E731
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") \
                != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return bad("grant_type / client_assertion_type")
        try:
            claims = jwt.decode(form.get("client_assertion", ""), self.key.key,
                                algorithms=[self.alg], audience=self.origin + "/auth/token",
                                issuer=self.client_id, options={"require": ["exp", "jti"]})
        except jwt.PyJWTError as exc:
            return bad(str(exc))
        if claims.get("sub") != self.client_id or claims["jti"] in self.seen_jti:
            return bad("sub or a replayed jti")
        self.seen_jti.add(claims["jti"])
        self.assertions.append(claims)
        token = secrets.token_urlsafe(16)
        self.tokens[token] = time.time() + self.expires_in
        return Reply(200, {"access_token": token, "token_type": "bearer",
                           "expires_in": self.expires_in, "scope": form.get("scope")},
                     content_type="application/json")

    def revoke_all(self) -> None:
        self.tokens.clear()

    def dispatch(self, req: Request) -> Reply:
        if (req.method, req.path) not in self._open:
            auth = req.headers.get("authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            if token is None or self.tokens.get(token, 0) < time.time():
                return Reply(401, {"resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "login"}]},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return super().dispatch(req)


# -- Bulk Data export (server side, for the client's tests) -----------------------------------
class BulkServer(FakeRemote):
    """`GET [base]/$export` over `resources` (by type, filtered by _type and _since on
    meta.lastUpdated), `polls` answers of 202 before the manifest, NDJSON files of
    `per_file` resources."""

    def __init__(self, resources: list[dict], polls: int = 1, per_file: int = 1000,
                 transaction_time: str = "2026-01-01T00:00:00Z"):
        super().__init__()
        self.resources, self.polls, self.per_file = resources, polls, per_file
        self.transaction_time = transaction_time
        self.exports: dict[str, dict] = {}
        self.files: dict[str, bytes] = {}
        self.route("GET", "/$export", self._kick_off)

    def _kick_off(self, req: Request) -> Reply:
        q = dict(req.query)
        if req.headers.get("prefer") != "respond-async":
            return Reply(400, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "invalid", "diagnostics": "Prefer"}]})
        types = set(q["_type"].split(",")) if q.get("_type") else None
        since = q.get("_since")
        chosen = [r for r in self.resources if (types is None or r["resourceType"] in types)
                  and (since is None or r.get("meta", {}).get("lastUpdated", "9") >= since)]
        export_id = secrets.token_hex(4)
        by_type: dict[str, list] = {}
        for r in chosen:
            by_type.setdefault(r["resourceType"], []).append(r)
        output = []
        for rtype, items in sorted(by_type.items()):
            for n in range(0, len(items), self.per_file):
                name = f"{export_id}-{rtype}-{n // self.per_file}.ndjson"
                self.files[name] = b"".join(json.dumps(r).encode() + b"\n"
                                            for r in items[n:n + self.per_file])
                self.route("GET", f"/bulkfiles/{name}", self._file(name))
                output.append({"type": rtype, "url": f"{self.base}/bulkfiles/{name}"})
        self.exports[export_id] = {"polls": self.polls, "output": output}
        self.route("GET", f"/bulkstatus/{export_id}", self._status(export_id))
        self.route("DELETE", f"/bulkstatus/{export_id}", lambda r: Reply(202))
        return Reply(202, None, {"Content-Location": f"{self.base}/bulkstatus/{export_id}"})

    def _status(self, export_id: str):
        def status(req: Request) -> Reply:
            exp = self.exports[export_id]
            if exp["polls"] > 0:
                exp["polls"] -= 1
                return Reply(202, None, {"Retry-After": "1", "X-Progress": "in progress"})
            return Reply(200, {"transactionTime": self.transaction_time,
                               "request": f"{self.base}/$export", "requiresAccessToken": False,
                               "output": exp["output"], "error": []},
                         content_type="application/json")
        return status

    def _file(self, name: str):
        return lambda req: Reply(200, self.files[name], content_type="application/fhir+ndjson")


def free_port_unused() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
