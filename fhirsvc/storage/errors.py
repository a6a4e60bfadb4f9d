"""Storage errors: what went wrong in the database, in words a person can act on.

Storage knows nothing of HTTP or OperationOutcomes; the API (and a batch entry in the
services) maps these to an outcome and a status.
"""
from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed; the unit of work has been (or will be) rolled back."""


class ConflictError(StorageError):
    """Another transaction got there first: a concurrent create of the same id, a unique
    violation, a serialization failure or deadlock, a lock not obtained in time. Retrying the
    whole request is the remedy."""


class NotFoundError(StorageError):
    """Storage was asked to change something that must exist and does not."""


class StatementTimeoutError(StorageError):
    """A statement ran longer than the configured statement timeout and was cancelled; the
    unit of work was rolled back."""
