"""People logging in to the pages (auth=smart): /ui/login, /ui/logout, the session cookie and
CSRF tokens. The directory, password hashing and the signed cookies are
fhirsvc/security/users.py; this is the HTTP side of it.

A logged-in person's page runs with their `user/` scopes in the RequestContext
(`with_user`), exactly as a token with those scopes would: the services' guard decides.
Every POST form carries a CSRF token (`csrf_token()` in the templates): the session's own
once logged in, a nonce cookie's (double submit) on the login form; a POST through the pages
without the right one is refused before its view runs. No JavaScript anywhere.
"""
from __future__ import annotations

import secrets

from flask import current_app, g, redirect, render_template, request, url_for

from ..context import RequestContext
from ..outcomes import error

SESSION_COOKIE = "fhirsvc_session"
NONCE_COOKIE = "fhirsvc_login"


def _runtime():
    return current_app.extensions["fhirsvc.runtime"]


def _parts():
    """(UserDirectory, Sessions) of this app, made once (the session secret is derived from
    the server's signing key: every worker of one server accepts the same cookies)."""
    ext = current_app.extensions
    if "fhirsvc.users" not in ext:
        from ..security.users import Sessions, session_secret
        runtime = _runtime()
        auth = runtime.services.auth
        secret = session_secret(auth.key) if auth is not None else secrets.token_bytes(32)
        lifetime = getattr(runtime.config, "ui_session_lifetime", None)
        directory = runtime.services.users
        ext["fhirsvc.users"] = (directory,
                                Sessions(secret, **({"lifetime": lifetime} if lifetime else {})))
    return ext["fhirsvc.users"]


def auth_on() -> bool:
    return current_app.config["FHIRSVC"].auth == "smart"


def from_session():
    """Before a page (auth on, no Authorization header): None when the session cookie names
    a current user (kept in `g`), "anonymous" without a usable cookie."""
    directory, sessions = _parts()
    session = sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return "anonymous"
    user = directory.get(session.name)
    if user is None or session.issued < user.sessions_after:
        return "anonymous"     # removed, disabled, logged out, or their password changed
    g.fhirsvc_ui_user, g.fhirsvc_ui_session = user, session
    return None


def with_user(ctx: RequestContext) -> RequestContext:
    """The context of a logged-in person: their scopes, enforced like a token's."""
    user = getattr(g, "fhirsvc_ui_user", None)
    if user is None:
        return ctx
    return ctx.with_(enforce=True, caller=f"user:{user.name}", scopes=user.scopes,
                     user=user.name, client_class="standard")


def current_user():
    return getattr(g, "fhirsvc_ui_user", None)


def csrf_token() -> str:
    """The token of this browser's POST forms ("" with auth off: nothing to protect)."""
    session = getattr(g, "fhirsvc_ui_session", None)
    if session is not None:
        return session.csrf
    if "fhirsvc_ui_nonce" in g:
        _, sessions = _parts()
        return sessions.csrf_for_anonymous(g.fhirsvc_ui_nonce)
    return ""


def _check_csrf():
    """Before a POST through the pages: a session's POST carries its token, the login form
    its nonce's. (A bearer-token client sends no cookie: nothing a third site can forge.)"""
    if request.method != "POST" or not auth_on():
        return None
    _, sessions = _parts()
    given = request.form.get("csrf_token")
    if request.endpoint == "ui.logout":
        from_session()
    session = getattr(g, "fhirsvc_ui_session", None)
    if session is not None:
        ok = sessions.check_csrf(session.csrf, given)
    elif request.endpoint == "ui.login":
        nonce = request.cookies.get(NONCE_COOKIE)
        ok = bool(nonce) and sessions.check_csrf(sessions.csrf_for_anonymous(nonce), given)
    elif request.endpoint == "ui.logout":
        ok = True     # no current session: nothing to end (the stale cookie is cleared)
    else:
        return None   # a bearer-token POST (authenticated before this, no cookie involved)
    if ok:
        return None
    from .pages import error_page
    return error_page(400, "The form has expired", [error(
        "security", "This form's security token is missing or out of date (CSRF check): "
        "open the page again and send it once more.")])


def _cookie_args() -> dict:
    return {"httponly": True, "samesite": "Lax", "secure": request.is_secure, "path": "/ui"}


def _safe_next(target: str | None) -> str:
    """Only a page of this server (no open redirect)."""
    from .pages import PREFIX
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") \
            and "\\" not in target and "\n" not in target and "\r" not in target:
        return target
    return url_for("ui.index")


def _audit(status: int, name: str | None, message: str) -> None:
    from ..api.views import context
    from ..context import DOOR_UI
    ctx = context().with_(door=DOOR_UI, caller=f"user:{name}" if name else None, user=name)
    g.fhirsvc_audited = True
    _runtime().services.audit.log.record(ctx, "login", status=status, detail=message)


def login():
    from .pages import error_page
    if not auth_on():
        return error_page(404, "Not found", [error(
            "not-found", "Logging in is for servers with authorization on (FHIRSVC_AUTH=smart); "
            "on this one every page is open.")])
    directory, sessions = _parts()
    target = _safe_next(request.values.get("next"))
    status, message, retry = 200, None, None
    name = ""
    if request.method == "POST":
        from ..security.users import LoginRefused
        name = (request.form.get("name") or "").strip()
        try:
            user = directory.login(name, request.form.get("password") or "",
                                   request.remote_addr)
        except LoginRefused as exc:
            status = 429 if exc.retry_after else 401
            message, retry = str(exc), exc.retry_after
            _audit(status, name[:64] or None, f"login refused: {exc}")
        else:
            cookie, _ = sessions.issue(user)
            _audit(200, user.name, "logged in to the pages")
            response = redirect(target, 303)
            response.set_cookie(SESSION_COOKIE, cookie, max_age=sessions.lifetime,
                                **_cookie_args())
            response.delete_cookie(NONCE_COOKIE, path="/ui")
            return response
    nonce = request.cookies.get(NONCE_COOKIE) or secrets.token_urlsafe(24)
    g.fhirsvc_ui_nonce = nonce
    response = current_app.response_class(
        render_template("ui/login.html", next=target, name=name, message=message),
        status, content_type="text/html; charset=utf-8")
    response.set_cookie(NONCE_COOKIE, nonce, max_age=3600, **_cookie_args())
    if retry:
        response.headers["Retry-After"] = str(retry)
    response.headers["Cache-Control"] = "no-store"
    return response


def logout():
    """POST (with the session's CSRF token): the session ends here and everywhere it was
    copied (the user's older sessions are refused); GET shows the button."""
    if not auth_on():
        return redirect(url_for("ui.index"), 303)
    if request.method == "POST":
        directory, _ = _parts()
        user = current_user()         # read by the CSRF check
        if user is not None:
            directory.end_sessions(user.name)
            _audit(200, user.name, "logged out of the pages")
        response = redirect(url_for("ui.login"), 303)
        response.delete_cookie(SESSION_COOKIE, **_cookie_args())
        return response
    from_session()
    return render_template("ui/logout.html")


def register(bp) -> None:
    bp.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
    bp.before_request(_check_csrf)
    bp.app_context_processor(lambda: {"csrf_token": csrf_token, "current_user": current_user,
                                      "auth_on": auth_on})
