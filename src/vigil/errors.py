"""The domain errors every layer raises and the API and CLI translate.

Each error carries a one-sentence message meant for the person who made the
request, and an HTTP status so the REST layer can map it without a table of
its own. The CLI maps every ``VigilError`` to exit code 1 unless it is a
``UsageError`` (exit 2).
"""

from __future__ import annotations

from typing import Any


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    status: int = 500
    title: str = "Internal error"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidInput(VigilError):
    """The data, a parameter or a field is wrong; the message names which and why."""

    status = 422
    title = "Invalid input"


class UsageError(InvalidInput):
    """A command was called wrongly (unknown option value, missing argument)."""


class NotFound(VigilError):
    """A model, version, dataset or job does not exist in the caller's tenant."""

    status = 404
    title = "Not found"


class Conflict(VigilError):
    """The request conflicts with the current state (e.g. deleting the production version)."""

    status = 409
    title = "Conflict"


class Unauthorized(VigilError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    title = "Unauthorized"


class Forbidden(VigilError):
    """The key is valid but its role is too low for the operation."""

    status = 403
    title = "Forbidden"


class PayloadTooLarge(VigilError):
    """The request body or the number of rows is over the configured limit."""

    status = 413
    title = "Payload too large"


class RateLimited(VigilError):
    """The key sent more requests than its rate allows; retry after ``retry_after`` seconds."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(VigilError):
    """A shared resource (a stream's state lock) stayed held by another request or replica;
    nothing was applied, so the request can be sent again after ``retry_after`` seconds."""

    status = 503
    title = "Busy"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ArtifactIntegrityError(VigilError):
    """A stored artifact does not match its recorded sha256 or HMAC: it was altered."""

    status = 500
    title = "Artifact integrity check failed"
