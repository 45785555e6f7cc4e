"""ASGI middleware: request ids, access logs, metrics, the 500 fallback, and the body-size limit.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so that request bodies are
streamed through untouched and no extra task is spawned per request.
"""

from __future__ import annotations

import logging
import random
import re
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.logs import request_id_var
from vigil.api.metrics import ApiMetrics
from vigil.api.problems import internal_error_response, problem_response

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED_ROUTE = "<unmatched>"
# An incoming id is echoed into logs and headers: only accept what cannot forge a line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

access_log = logging.getLogger("vigil.access")
error_log = logging.getLogger("vigil.api")


def _state(scope: Scope) -> dict[str, object]:
    state: dict[str, object] = scope.setdefault("state", {})
    return state


def route_template(scope: Scope) -> str:
    """Returns the matched route's path template, or a fixed label when nothing matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _new_request_id() -> str:
    """Returns 32 random hex digits, as ``uuid4().hex`` would look.

    A request id must be unique, not secret: the seeded generator gives it
    without ``os.urandom``'s system call, which lets go of the GIL and then
    waits for it back, on the event loop, once per request.
    """
    return f"{random.getrandbits(128):032x}"


class RequestContextMiddleware:
    """Gives each request an id (echoed as ``X-Request-ID``), logs it, and counts it.

    It also turns an exception no handler caught into a 500 problem, so the
    client gets a document with the request id and the log line with the
    traceback carries the same id.
    """

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs the request with its id set, then logs and counts the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else _new_request_id()
        _state(scope)["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception(
                "unhandled error in %s %s",
                scope["method"],
                scope["path"],
                extra={"request_id": request_id},
            )
            if response_started:
                # Half an answer is on the wire; the server must drop the connection.
                raise
            await internal_error_response(request_id)(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "key_id": _state(scope).get("key_id"),
                    "client": (scope.get("client") or ("", 0))[0] or None,
                },
            )
            request_id_var.reset(token)


class _BodyTooLarge(Exception):
    """Raised from ``receive`` to stop whoever is reading a body over the limit."""


class BodySizeLimitMiddleware:
    """Answers 413 for a body over ``max_bytes``, without reading more of it than the limit.

    A declared ``Content-Length`` over the limit is refused before any byte is
    read. A body sent in chunks (or with a false length) is counted as it is
    received; once over, reading stops and whatever the app was about to
    answer is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs the request with its body counted against the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        exceeded = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if exceeded and not answered:
                # The app turned the interrupted read into an answer of its own
                # (FastAPI makes it a 400); the 413 below replaces it.
                return
            answered = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or answered:
                raise
        if exceeded and not answered:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _state(scope).get("request_id")
        response = problem_response(
            413,
            f"The request body is over the limit of {self.max_bytes} bytes.",
            title="Payload too large",
            request_id=request_id if isinstance(request_id, str) else None,
            # The unread rest of the body makes the connection unusable for another request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
