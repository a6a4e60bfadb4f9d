"""HTTP side of security: bearer tokens in, the caller and scopes into the RequestContext
(checked by the services' guard), 401 / 429 / 413 before a view runs, the access audit
record after it, CORS; and the routes of the built-in authorization server (/auth/token,
/auth/jwks, /auth/clients) and /.well-known/smart-configuration.

Views stay thin: nothing here decides what a scope allows (fhirsvc/security/guard.py does).
"""
from __future__ import annotations

import math

import orjson
from flask import Blueprint, Response, current_app, g, request

from ..outcomes import error
from ..security import ADMIN_SCOPE, InvalidToken, OAuthError, smart_configuration
from ..security.authserver import auth_urls, check_scopes
from ..security.limits import client_classes, limiter, retry_after
from .negotiation import outcome_response

PUBLIC_ENDPOINTS = ("metadata", "smart_config")   # discovery needs no token (SMART 2.2)
# the interaction each view answers (audit records)
INTERACTIONS = {
    "metadata": "capabilities", "transaction": "transaction", "search_system": "search-system",
    "history_system": "history-system", "create": "create", "search_type": "search-type",
    "search_post": "search-type", "conditional_update": "update",
    "conditional_delete": "delete", "history_type": "history-type",
    "patient_everything": "everything", "ssc_classification": "operation",
    "cohort_statistics": "operation", "validate_type": "validate",
    "validate_instance": "validate", "compartment_search": "search-compartment",
    "read": "read", "update": "update", "delete": "delete",
    "history_instance": "history-instance", "vread": "vread", "smart_config": "capabilities"}
SINGLE_WRITES = ("create", "update", "delete")   # audited in their own transaction


def _runtime():
    return current_app.extensions["fhirsvc.runtime"]


def _view_name() -> str:
    ep = request.endpoint or ""
    return ep.split(".", 1)[-1].split(":", 1)[0]


def request_context_fields() -> dict:
    """What the token says about the caller, for views.context()."""
    claims = getattr(g, "fhirsvc_claims", None)
    fields = {"source": request.remote_addr}
    if claims is not None:
        fields.update(enforce=True, caller=claims.client_id,
                      scopes=frozenset(claims.scope.split()), patient=claims.patient,
                      user=claims.fhir_user, client_class=claims.client_class)
    return fields


def _unauthorized(message: str, code: str | None = "invalid_token") -> Response:
    value = 'Bearer realm="fhirsvc"' + (f', error="{code}", error_description="'
                                        f'{message.replace(chr(34), chr(39))}"' if code else "")
    _audit_denial(401, message)
    return outcome_response([error("login", message)], 401, {"WWW-Authenticate": value})


def _audit_denial(status: int, message: str) -> None:
    from ..context import DOOR_REST, RequestContext
    cfg = current_app.config["FHIRSVC"]
    ctx = RequestContext(base_url=request.host_url.rstrip("/") + cfg.base_path, door=DOOR_REST,
                         source=request.remote_addr,
                         caller=getattr(getattr(g, "fhirsvc_claims", None), "client_id", None))
    g.fhirsvc_audited = True
    _runtime().services.audit.log.record(
        ctx, INTERACTIONS.get(_view_name(), "operation"), status=status,
        rtype=(request.view_args or {}).get("rtype"),
        rid=(request.view_args or {}).get("rid"),
        query=request.query_string.decode("utf-8", "replace") or None, detail=message)


def authenticate():
    """Before every FHIR view: verify the bearer token (auth=smart), apply the caller's rate
    and size limits. Returns a response to stop the request, or None."""
    cfg = current_app.config["FHIRSVC"]
    if cfg.auth != "smart" or request.method == "OPTIONS" or _view_name() in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("This server needs an access token: Authorization: Bearer "
                             "<token> (SMART Backend Services: POST /auth/token)", None)
    from .views import context_base
    base = context_base()
    issuer, _, _ = auth_urls(base, cfg.base_path)
    try:
        claims = _runtime().services.verifier.verify(token.strip(), audience=base,
                                                     own_issuer=issuer)
    except InvalidToken as exc:
        return _unauthorized(str(exc))
    g.fhirsvc_claims = claims
    limits = _limits()
    klass = limits["classes"].get(claims.client_class) or limits["classes"]["standard"]
    wait = limits["rate"].take(claims.client_id, klass)
    if wait > 0:
        _audit_denial(429, f"rate limit of class {klass.name}")
        return outcome_response([error(
            "throttled", f"Too many requests: clients of class {klass.name} may send "
            f"{klass.rate:g} per minute; retry after {retry_after(wait)} s")], 429,
            rate_limit_headers(klass, wait))
    if request.content_length and request.content_length > klass.max_bytes:
        return outcome_response([error(
            "too-costly", f"The request body is {request.content_length} bytes; clients of "
            f"class {klass.name} may send at most {klass.max_bytes}: split it")], 413)
    return None


def rate_limit_headers(klass, wait: float) -> dict:
    """A refusal's headers: Retry-After, and the RateLimit fields (IETF draft
    ratelimit-headers-06): the burst as the quota, none left, the seconds until the next token
    (= Retry-After) and the policy (the burst per the seconds the rate takes to refill it)."""
    retry = str(retry_after(wait))
    window = klass.burst / (klass.rate / 60.0) if klass.rate > 0 else 60.0
    return {"Retry-After": retry, "RateLimit-Limit": str(klass.burst),
            "RateLimit-Remaining": "0", "RateLimit-Reset": retry,
            "RateLimit-Policy": f"{klass.burst};w={math.ceil(window)}"}


def _limits() -> dict:
    ext = current_app.extensions
    if "fhirsvc.limits" not in ext:
        classes = client_classes(current_app.config["FHIRSVC"].client_classes)
        ext["fhirsvc.limits"] = {"classes": classes, "rate": limiter(
            current_app.config["FHIRSVC"], _runtime().db, classes)}
    return ext["fhirsvc.limits"]


def after(response: Response) -> Response:
    """After every FHIR view: the access audit record, insufficient_scope, CORS."""
    cfg = current_app.config["FHIRSVC"]
    if cfg.auth == "smart" and response.status_code == 403 \
            and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Bearer realm="fhirsvc", ' \
                                               'error="insufficient_scope"'
    view = _view_name()
    if view and not getattr(g, "fhirsvc_audited", False) and request.method != "OPTIONS":
        interaction = INTERACTIONS.get(view, "operation")
        status = response.status_code
        if not (interaction in SINGLE_WRITES and status < 400):
            ctx = getattr(g, "fhirsvc_ctx", None)
            if ctx is not None:
                args = request.view_args or {}
                _runtime().services.audit.log.record(
                    ctx, interaction, status=status,
                    rtype=args.get("rtype") or ("Patient" if "pid" in args else None),
                    rid=args.get("rid") or args.get("pid"),
                    version=int(args["vid"]) if str(args.get("vid", "")).isdigit()
                    and int(args["vid"]) <= 2 ** 31 - 1 else None,  # a huge one: not a column
                    query=request.query_string.decode("utf-8", "replace") or None,
                    detail=_detail(response) if status >= 400 else None)
    return cors(response)


def _detail(response: Response) -> str | None:
    try:
        body = orjson.loads(response.get_data())
        return "; ".join(i.get("diagnostics") or i.get("details", {}).get("text", "")
                         for i in body.get("issue", []))[:2000]
    except Exception:
        return None


def cors(response: Response) -> Response:
    """Access-Control-* for configured origins only (FHIRSVC_CORS_ORIGINS; off by default)."""
    origins = [o.strip() for o in current_app.config["FHIRSVC"].cors_origins.split(",")
               if o.strip()]
    origin = request.headers.get("Origin")
    if not origins or not origin or ("*" not in origins and origin not in origins):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = (
        "Location, ETag, Content-Location, Last-Modified, WWW-Authenticate, Retry-After, "
        "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = \
            "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, " \
            "If-None-Exist, If-Modified-Since, X-Request-Id"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


# -- /.well-known/smart-configuration (under the FHIR base) ------------------------------------
def smart_config():
    cfg = current_app.config["FHIRSVC"]
    from .views import context_base
    _, token_url, jwks_url = auth_urls(context_base(), cfg.base_path)
    body = smart_configuration(token_url, jwks_url, ["system/*.cruds", "system/*.rs",
                                                      "user/*.cruds", "patient/*.rs",
                                                      "system/AuditEvent.rs", ADMIN_SCOPE])
    return Response(orjson.dumps(body), 200, content_type="application/json")


# -- the authorization server (/auth) -----------------------------------------------------------
def _oauth(exc: OAuthError) -> Response:
    return Response(orjson.dumps(exc.body()), exc.status, content_type="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _auth_server():
    server = _runtime().services.auth
    if server is None:
        raise OAuthError("invalid_request", "authorization is off on this server "
                         "(FHIRSVC_AUTH=smart enables the token endpoint)", 404)
    return server


def token():
    cfg = current_app.config["FHIRSVC"]
    from .views import context_base
    base = context_base()
    issuer, token_url, _ = auth_urls(base, cfg.base_path)
    try:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "POST the token request as "
                             "application/x-www-form-urlencoded")
        body = _auth_server().token(request.form.to_dict(), token_url=token_url,
                                    audience=base, issuer=issuer)
    except OAuthError as exc:
        _audit_token(exc.status if exc.status != 400 else 401, exc.description,
                     request.form.get("client_id"))
        return _oauth(exc)
    return Response(orjson.dumps(body), 200, content_type="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _audit_token(status: int, message: str, client: str | None) -> None:
    from ..context import DOOR_REST, RequestContext
    ctx = RequestContext(base_url=request.host_url, door=DOOR_REST, source=request.remote_addr,
                         caller=client)
    _runtime().services.audit.log.record(ctx, "token", status=status, detail=message)


def jwks():
    try:
        return Response(orjson.dumps(_auth_server().key.jwks()), 200,
                        content_type="application/json")
    except OAuthError as exc:
        return _oauth(exc)


def _admin() -> Response | None:
    """The client registry API is for administrators: a token with fhirsvc/admin (auth on),
    or any caller on loopback while auth is off (the same trust as `fhirsvc clients`)."""
    cfg = current_app.config["FHIRSVC"]
    if cfg.auth != "smart":
        return _oauth(OAuthError("invalid_request", "authorization is off on this server", 404))
    header = request.headers.get("Authorization", "")
    scheme, _, tok = header.partition(" ")
    if scheme.lower() != "bearer":
        return _unauthorized("The client registry needs a bearer token with the scope "
                             f"{ADMIN_SCOPE}", None)
    from .views import context_base
    base = context_base()
    issuer, _, _ = auth_urls(base, cfg.base_path)
    try:
        claims = _runtime().services.verifier.verify(tok.strip(), audience=base,
                                                     own_issuer=issuer)
    except InvalidToken as exc:
        return _unauthorized(str(exc))
    if ADMIN_SCOPE not in claims.scope.split():
        return outcome_response([error("forbidden", f"Insufficient scope: the client registry "
                                       f"needs {ADMIN_SCOPE}")], 403,
                                {"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    return None


def _client_json(row) -> dict:
    return {"client_id": row.client_id, "scope": row.scope, "client_class": row.client_class,
            "patient": row.patient, "jwks": orjson.loads(row.jwks), "disabled": row.disabled}


def clients_list():
    denied = _admin()
    if denied is not None:
        return denied
    rows = _auth_server().clients()
    return Response(orjson.dumps([_client_json(r) for r in rows]), 200,
                    content_type="application/json")


def clients_add():
    denied = _admin()
    if denied is not None:
        return denied
    try:
        body = orjson.loads(request.get_data())
        if not isinstance(body, dict):
            raise ValueError("the body is a JSON object: client_id, jwks, scope")
        check_scopes(body.get("scope") or "")
        row = _auth_server().register(str(body.get("client_id") or ""), body.get("jwks"),
                                      body.get("scope") or "",
                                      body.get("client_class") or "standard",
                                      body.get("patient"))
    except (ValueError, orjson.JSONDecodeError) as exc:
        return outcome_response([error("invalid", f"Cannot register the client: {exc}")], 400)
    return Response(orjson.dumps(_client_json(row)), 201, content_type="application/json")


def clients_remove(client_id):
    denied = _admin()
    if denied is not None:
        return denied
    if not _auth_server().remove(client_id):
        return outcome_response([error("not-found", f"No client {client_id!r}")], 404)
    return Response(status=204)


def protect(bp: Blueprint) -> Blueprint:
    """Give another door's blueprint (HL7 v2 over HTTP, bulk export, ...) the same bearer-token
    check, limits, access audit record and CORS as the FHIR routes. Its views then build their
    context with `views.context()` (caller and scopes filled in) and their services call the
    guard (docs/security.md)."""
    bp.before_request(authenticate)
    bp.after_request(after)
    return bp


def make_auth_blueprint(base_path: str) -> Blueprint:
    """/auth/... at the root, /.well-known/smart-configuration under the FHIR base."""
    bp = Blueprint("auth", __name__)
    bp.add_url_rule(base_path.rstrip("/") + "/.well-known/smart-configuration", "smart_config",
                    smart_config, methods=["GET"])
    bp.add_url_rule("/auth/token", "token", token, methods=["POST"])
    bp.add_url_rule("/auth/jwks", "jwks", jwks, methods=["GET"])
    bp.add_url_rule("/auth/clients", "clients_list", clients_list, methods=["GET"])
    bp.add_url_rule("/auth/clients", "clients_add", clients_add, methods=["POST"])
    bp.add_url_rule("/auth/clients/<client_id>", "clients_remove", clients_remove,
                    methods=["DELETE"])
    return bp
