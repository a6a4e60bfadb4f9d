"""Storage errors as OperationOutcomes: the one mapping, used by the API's error handler and
by the batch entries and CLI loads that report a failure without stopping (no Flask here)."""
from __future__ import annotations

from .outcomes import OperationOutcomeError, error
from .storage.errors import ConflictError, NotFoundError, StatementTimeoutError, StorageError


def storage_outcome(exc: StorageError) -> OperationOutcomeError:
    """409 for a conflict with a concurrent request (the message says to retry), 404 for
    something that must exist and does not, 500 otherwise."""
    if isinstance(exc, ConflictError):
        return OperationOutcomeError(error("conflict", str(exc)), 409)
    if isinstance(exc, StatementTimeoutError):
        return OperationOutcomeError(error("timeout", str(exc)), 503)
    if isinstance(exc, NotFoundError):
        return OperationOutcomeError(error("not-found", str(exc)), 404)
    return OperationOutcomeError(error(
        "exception", "The database could not complete the request; it was not applied. "
        "The server log has the details.", diagnostics=type(exc).__name__), 500)
