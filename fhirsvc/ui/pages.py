"""The `/ui/` blueprint: server-rendered pages for people over the same services as the API.

Views only translate: the request -> a RequestContext built like the API's (so when auth
is on, a page needs the same token or user as any other door) and plain arguments -> service
calls -> the page builders (spine.py, case.py, checking.py, cohort.py, feeds.py) -> a Jinja2
template. Nothing here touches the database. Errors under /ui/ are HTML pages; the API keeps
its OperationOutcomes (`html_error` is the hook api/errors.py asks for paths under /ui/).
"""
from __future__ import annotations

import logging

import orjson
from flask import (Blueprint, Flask, Response, current_app, redirect, render_template, request,
                   url_for)
from werkzeug.exceptions import HTTPException

from ..context import DOOR_UI, RequestContext
from ..outcomes import OperationOutcomeError, error, operation_outcome
from ..storage.errors import StorageError
from ..storage_outcomes import storage_outcome
from . import auth
from . import case as case_pages
from . import checking, cohort as cohort_pages, feeds as feed_pages, spine

log = logging.getLogger("fhirsvc")
PREFIX = "/ui"
MAX_PATIENTS = 200

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


def services():
    return current_app.extensions["fhirsvc.runtime"].services


def context() -> RequestContext:
    """The API's context (base URL, request id, and the caller once auth is on), marked as
    coming through the pages. A person logged in (auth.py) gets their `user/` scopes in it,
    enforced by the same guard as a token's."""
    from flask import g

    from ..api.views import context as api_context
    ctx = api_context().with_(door=DOOR_UI)
    ctx = auth.with_user(ctx)
    g.fhirsvc_ctx = ctx  # the access audit record (api/security.after)
    return ctx


@bp.before_request
def _authenticate():
    """auth=smart: a page needs a logged-in person (the session cookie, auth.py) or the same
    bearer token as the API's; without either, a browser is sent to the login page and any
    other client gets a 401 (an HTML page). The style sheet and the login page need none."""
    if request.endpoint in ("ui.static", "ui.login", "ui.logout"):
        return None
    if current_app.config["FHIRSVC"].auth == "smart" and \
            "Authorization" not in request.headers:
        refused = auth.from_session()
        if refused is None:
            return None
        if refused != "anonymous":
            return refused
        if request.method == "GET" and request.accept_mimetypes.accept_html \
                and "text/html" in request.headers.get("Accept", ""):
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")), 303)
    from ..api.security import authenticate
    refused = authenticate()
    if refused is None:
        return None
    body = refused.get_json(silent=True) or {}
    issues = [error(i.get("code", "login"), (i.get("details") or {}).get("text", ""))
              for i in body.get("issue") or []]
    page = error_page(refused.status_code, TITLES.get(refused.status_code, "Error"), issues)
    for header in ("WWW-Authenticate", "Retry-After"):
        if header in refused.headers:
            page.headers[header] = refused.headers[header]
    return page


@bp.after_request
def _audit(response):
    if request.endpoint == "ui.static":
        return response
    from ..api.security import after
    return after(response)


auth.register(bp)   # /ui/login, /ui/logout, CSRF on every POST form (after _authenticate)


# -- pages ---------------------------------------------------------------------------------
@bp.get("/")
def index():
    ctx = context()
    found = services().search.search(ctx, "Patient", [("_count", str(MAX_PATIENTS)),
                                                      ("_total", "accurate")])
    patients = [case_pages.patient_summary(e["resource"]) for e in found.get("entry") or []
                if e.get("resource", {}).get("resourceType") == "Patient"]
    cases = [p for p in patients if not p["synthetic"]]
    others = [p for p in patients if p["synthetic"]]
    return render_template("ui/index.html", cases=cases, others=others,
                           total=found.get("total"), fhir_base=ctx.base_url)


@bp.route("/validate", methods=["GET", "POST"])
def validate():
    ctx = context()
    profiles = services().guide.profiles(ctx)
    form = {"resource": "", "format": "auto", "profile": []}
    result = None
    if request.method == "POST":
        text = request.form.get("resource", "")
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            text = upload.read().decode("utf-8-sig", "replace")  # a BOM is not JSON
        chosen_urls = request.form.getlist("profile")
        known = {p.url: p for p in profiles}
        unknown = [u for u in chosen_urls if u not in known]
        form = {"resource": text, "format": request.form.get("format", "auto"),
                "profile": chosen_urls}
        fmt = checking.choose(form["format"], text)
        if not text.strip():
            result = {"empty": True}
        elif fmt.check is None:
            result = {"unsupported": fmt}
        else:
            checked = fmt.check(services(), ctx, text,
                                [known[u] for u in chosen_urls if u in known])
            issues = checked.all_issues + [error("not-found", f"Unknown profile {u}")
                                           for u in unknown]
            if request.form.get("download") == "outcome":  # the form's download button
                return outcome_attachment(issues)
            result = {"checked": checked, "issues": issues, "format": fmt,
                      "counts": checking.counts(issues)}
    by_type: dict[str, list] = {}
    for p in profiles:
        by_type.setdefault(p.type, []).append(p)
    return render_template("ui/validate.html", form=form, result=result, formats=checking.FORMATS,
                           profiles_by_type=by_type)


def outcome_attachment(issues) -> Response:
    body = orjson.dumps(operation_outcome(issues, "No issues detected during validation"),
                        option=orjson.OPT_INDENT_2)
    return Response(body, 200, content_type="application/fhir+json; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="operationoutcome.json"'})


@bp.get("/patients/")
def patients():
    return redirect(url_for("ui.index"))


@bp.get("/patients/<pid>")
def patient(pid):
    ctx = context()
    record = services().patients.record(ctx, pid)
    resources = list(record.resources)
    grades = case_pages.mrc_grades(resources)
    return render_template(
        "ui/case.html", patient=case_pages.patient_summary(record.patient),
        timeline=case_pages.timeline(resources), labels=case_pages.CATEGORY_LABEL,
        spine=spine.spine_map(resources), compartment_label=spine.COMPARTMENT_LABEL,
        labs=case_pages.labs(resources), mrc=case_pages.mrc_chart(grades), grades=grades,
        fhir_base=ctx.base_url)


@bp.get("/cohort")
def cohort():
    ctx = context()
    stats = services().analytics.cohort_statistics(ctx)
    return render_template("ui/cohort.html", stats=stats, sections=cohort_pages.sections(stats),
                           chart=cohort_pages.bar_chart(stats), colors=cohort_pages.GROUP_COLORS)


@bp.get("/feeds")
def feeds():
    ctx = context()
    jobs = feed_pages.job_rows(services().jobs.list(ctx, limit=100))
    sections = []
    for section in feed_pages.FEED_SECTIONS:
        sections.append((section, [[feed_pages.cell(row, name) for _, name in section.columns]
                                   for row in section.rows(services(), ctx)]))
    wired = {s.key for s in feed_pages.FEED_SECTIONS}
    pending = [p for p in feed_pages.PENDING_FEEDS if p[0] not in wired]
    return render_template("ui/feeds.html", jobs=jobs, sections=sections, pending=pending)


# -- errors: HTML under /ui/ ---------------------------------------------------------------
def error_page(status: int, title: str, issues) -> Response:
    return Response(render_template("ui/error.html", status=status, title=title,
                                    issues=issues), status, content_type="text/html; charset=utf-8")


TITLES = {400: "The request was not understood", 401: "Sign-in needed", 403: "Not allowed",
          404: "Not found", 405: "Method not allowed", 410: "Deleted", 413: "Too large",
          422: "Cannot process", 429: "Too many requests", 500: "Something went wrong"}


@bp.errorhandler(OperationOutcomeError)
def _outcome(exc: OperationOutcomeError):
    return error_page(exc.status, TITLES.get(exc.status, "Error"), exc.issues)


@bp.errorhandler(StorageError)
def _storage(exc: StorageError):
    outcome = storage_outcome(exc)
    return error_page(outcome.status, TITLES.get(outcome.status, "Error"), outcome.issues)


@bp.errorhandler(413)  # by code: the app's own 413 handler would otherwise come first
def _too_large(exc):
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return error_page(413, TITLES[413], [error(
        "too-costly", f"The input is larger than this server accepts ({limit} bytes).")])


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    return html_error(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("Unhandled error on %s %s", request.method, request.path)
    return html_error(500, "The page could not be built; the server log has the details.")


def html_error(status: int, message: str) -> Response | None:
    """An HTML error page for a path under /ui/ (None elsewhere: the API answers with an
    OperationOutcome). api/errors.py calls it for errors raised before a view was chosen
    (an unknown page: 404, a wrong method: 405)."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return None
    if status == 404:
        message = f"There is no page at {request.path}."
    return error_page(status, TITLES.get(status, "Error"),
                      [error("not-found" if status == 404 else "exception", message)])


def root():
    """`/`: what this server is, with links to the pages and the FHIR API."""
    ctx = context()
    return render_template("ui/root.html", fhir_base=ctx.base_url)


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix=PREFIX)
    app.add_url_rule("/", "root", root, methods=["GET"])
    app.extensions["fhirsvc.html_error"] = html_error
