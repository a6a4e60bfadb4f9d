"""Every error leaves the server as an OperationOutcome; a 500 never leaks a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..outcomes import GoneError, OperationOutcomeError, error
from ..storage.errors import ConflictError, NotFoundError, StorageError
from ..storage_outcomes import storage_outcome
from .negotiation import outcome_response

log = logging.getLogger("fhirsvc")

_HTTP_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
               405: "not-supported", 406: "not-supported", 409: "conflict", 410: "deleted",
               412: "conflict", 413: "too-costly", 415: "not-supported", 422: "processing",
               429: "throttled"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(OperationOutcomeError)
    def _outcome(exc: OperationOutcomeError):
        headers = {}
        if isinstance(exc, GoneError):
            from .views import http_date
            headers["ETag"] = f'W/"{exc.version}"'
            if exc.last_updated is not None:
                headers["Last-Modified"] = http_date(exc.last_updated)
        return outcome_response(exc.issues, exc.status, headers)

    @app.errorhandler(StorageError)
    def _storage(exc: StorageError):
        if not isinstance(exc, (ConflictError, NotFoundError)):
            log.error("Storage error on %s %s: %s", request.method, request.path, exc)
        outcome = storage_outcome(exc)
        return outcome_response(outcome.issues, outcome.status)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return outcome_response([error(
            "too-costly", f"The request body is larger than this server accepts "
            f"({limit} bytes); split the bundle")], 413)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = exc.code or 500
        message = {404: f"No FHIR endpoint at {request.path}",
                   405: f"{request.method} is not allowed on {request.path}"}.get(
            code, exc.description or exc.name)
        page = app.extensions.get("fhirsvc.html_error")  # the pages answer in HTML (ui/)
        if page is not None and (html := page(code, message)) is not None:
            return html
        headers = {}
        if code == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        return outcome_response([error(_HTTP_CODES.get(code, "exception"), message)],
                                code, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return outcome_response([error(
            "exception", "Internal server error; the request was not applied. The server log "
            "has the details.")], 500)
