"""Every error as ``application/problem+json``: domain errors, validation, 404, 405 and 500.

The document is ``{"type", "title", "status", "detail"}`` plus ``errors``
(``[{"loc", "msg"}]``) for invalid input, and the request id so a user can
quote it. A 500 never carries the exception text: it may hold paths, SQL or
secrets; the log line with the same request id has the traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from vigil.api.responses import ProblemResponse
from vigil.errors import Busy, InvalidInput, RateLimited, VigilError
from vigil.reprs import plain_reprs

log = logging.getLogger("vigil.api")

PROBLEM_TYPE_PREFIX = "urn:vigil:problem:"


def problem_type(title: str) -> str:
    """Returns the stable problem type URI for a title ("Not found" -> ...:not-found)."""
    return PROBLEM_TYPE_PREFIX + "-".join(title.lower().split())


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> Response:
    """Returns a problem+json response with ``status`` and a one-sentence ``detail``."""
    title = title or _status_phrase(status)
    document: dict[str, Any] = {
        "type": problem_type(title),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        document["errors"] = [_error_item(e) for e in errors]
    if request_id:
        document["request_id"] = request_id
    return ProblemResponse(document, status_code=status, headers=dict(headers or {}))


def internal_error_response(request_id: str | None) -> Response:
    """Returns the 500 problem for an unexpected exception, with nothing of its text."""
    detail = "An unexpected error occurred"
    detail += f"; quote request id {request_id} when reporting it." if request_id else "."
    return problem_response(500, detail, request_id=request_id)


def request_id_of(request: Request) -> str | None:
    """Returns the id the request-id middleware gave this request, if it ran."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


async def vigil_error_handler(request: Request, exc: Exception) -> Response:
    """Returns the problem for a domain error: its status, title, message and field errors."""
    assert isinstance(exc, VigilError)
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited | Busy):
        # Whole seconds, rounded up: a client that waits exactly this long may go on.
        headers["Retry-After"] = str(max(1, -int(-exc.retry_after // 1)))
    if exc.status >= 500:
        log.error("%s: %s", exc.title, exc.message, exc_info=exc)
    return problem_response(
        exc.status,
        plain_reprs(exc.message),
        title=exc.title,
        errors=exc.errors,
        headers=headers,
        request_id=request_id_of(request),
    )


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    """Returns a 422 problem naming every invalid field (and row) of the request."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "invalid"))}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    detail = f"{describe_loc(first['loc'])}: {first['msg']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    detail += "."
    return problem_response(
        422,
        detail,
        title="Invalid input",
        errors=errors,
        request_id=request_id_of(request),
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Returns the problem for Starlette's own errors: no such route (404), wrong method (405)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # Starlette and FastAPI say 400 for a body they cannot parse (bad UTF-8, a
        # broken multipart form); this API calls every malformed input a 422.
        return problem_response(
            422,
            f"The request body cannot be read: {exc.detail}.",
            title="Invalid input",
            errors=[{"loc": ["body"], "msg": str(exc.detail)}],
            request_id=request_id_of(request),
        )
    if exc.status_code == 404 and exc.detail == _status_phrase(404):
        detail = f"No resource at {request.method} {request.url.path}."
    elif exc.status_code == 405:
        allowed = allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}."
        return problem_response(
            405, detail, headers={"Allow": allowed}, request_id=request_id_of(request)
        )
    else:
        detail = str(exc.detail)
    return problem_response(
        exc.status_code,
        detail,
        headers=exc.headers,
        request_id=request_id_of(request),
    )


def allowed_methods(request: Request) -> str:
    """Returns every method the routes at this path answer (``GET, HEAD, PUT``).

    Starlette's own ``Allow`` names only the first route that matched the
    path; FastAPI makes one route per method, so the others went unsaid.
    """
    allowed = []
    for method in _METHODS:
        # Asked method by method: routers included in others match as a whole, and
        # only a full match says the method has a handler at this path.
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def install_problem_handlers(app: FastAPI) -> None:
    """Registers the problem+json handlers on ``app``.

    Unexpected exceptions are not handled here but by the request middleware,
    which sees them first and logs them with the request id.
    """
    app.add_exception_handler(VigilError, vigil_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)


@contextmanager
def located_in_body() -> Iterator[None]:
    """Re-raises an InvalidInput with each error located in the request body (``body.…``).

    The service names a request's fields as they are in the request document
    (``["features"]``); the client sent them as ``body.features``.
    """
    try:
        yield
    except InvalidInput as exc:
        exc.errors = [
            error
            if list(error.get("loc", []))[:1] == ["body"]
            else {**error, "loc": ["body", *error.get("loc", [])]}
            for error in exc.errors
        ]
        raise


def describe_loc(loc: Sequence[Any]) -> str:
    """Returns a location list as a path a person reads: ``body.instances[3].age``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "request"


def _error_item(error: Mapping[str, Any]) -> dict[str, Any]:
    loc = error.get("loc", [])
    return {
        "loc": list(loc) if isinstance(loc, list | tuple) else [loc],
        "msg": str(error.get("msg", "")),
    }


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_PROBLEM_DESCRIPTIONS = {
    401: "No valid API key.",
    403: "The key's role is too low.",
    404: "No such resource in the caller's tenant.",
    409: "The request conflicts with the current state.",
    413: "The body or the number of rows is over the limit.",
    422: "Invalid input; `errors` names each field (and row).",
    429: "Rate-limited; retry after `Retry-After` seconds.",
    503: "Busy: nothing was applied; retry after `Retry-After` seconds.",
}
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Returns OpenAPI ``responses`` entries declaring problem+json answers for ``statuses``."""
    return {
        status: {
            "description": _PROBLEM_DESCRIPTIONS.get(status, _status_phrase(status)),
            "content": {"application/problem+json": {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
        }
        for status in statuses
    }
