"""Dependencies every router shares, as annotated aliases (``ServiceDep``, ``TrainerDep``).

Authentication and role checks live here, once: a handler that declares
``caller: TrainerDep`` is refused with 401 without a valid key and 403 below
the trainer role before its body runs. The service checks the role again for
the operations it guards, so a handler that forgets cannot open a hole.

The dependencies are ``async``: FastAPI runs a plain ``def`` dependency in its
thread pool, and a thread hop per dependency costs more than a fast-path
prediction. The one that may wait on the database — finding the key — does so
in the thread pool, and only when the key is not in the short-lived cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from vigil.api.metrics import ApiMetrics
from vigil.api.ratelimit import RateLimiter
from vigil.api.settings import ApiSettings
from vigil.errors import Forbidden, PayloadTooLarge, Unauthorized
from vigil.security import Caller, role_allows
from vigil.service import VigilService

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key, sent as `Authorization: Bearer vk_...`.",
)


async def get_service(request: Request) -> VigilService:
    """Returns the service the app was started with."""
    service: VigilService = request.app.state.service
    return service


async def get_settings(request: Request) -> ApiSettings:
    """Returns the API's limits."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


async def get_metrics(request: Request) -> ApiMetrics:
    """Returns the app's metrics."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


ServiceDep = Annotated[VigilService, Depends(get_service)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


class KeyCache:
    """Callers of recently verified keys, each kept ``ttl`` seconds.

    Finding a key is a database read and a hash comparison on every request;
    a key seen in the last ``ttl`` seconds is taken from here instead. So a
    revoked key (or one whose role changed) may still work for up to ``ttl``
    seconds in each process, as a deployment change takes a second to be seen.
    Entries are keyed by the sha256 of the key text: no secret is kept, and an
    unknown key is never cached (it is refused from the database every time).
    """

    def __init__(
        self, ttl: float = 2.0, max_entries: int = 10_000, clock: Callable[[], float] | None = None
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock or time.monotonic
        self._entries: dict[bytes, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def get(self, digest: bytes) -> Caller | None:
        """Returns the cached caller of a key digest, or None if absent or expired."""
        entry = self._entries.get(digest)
        if entry is None or self._clock() - entry[0] > self.ttl:
            return None
        return entry[1]

    def put(self, digest: bytes, caller: Caller) -> None:
        """Remembers the caller of a verified key."""
        with self._lock:
            if len(self._entries) >= self.max_entries:
                # Many distinct keys at once: start over rather than track recency.
                self._entries.clear()
            self._entries[digest] = (self._clock(), caller)


def _key_cache(request: Request) -> KeyCache:
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = KeyCache()
    return cache


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Returns the caller the bearer key stands for, after spending one of its rate tokens."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("Send an API key as `Authorization: Bearer KEY`.")
    cache = _key_cache(request)
    digest = hashlib.sha256(credentials.credentials.encode()).digest()
    caller = cache.get(digest)
    if caller is None:
        # Read from the app rather than through ServiceDep: each dependency FastAPI
        # resolves costs about as much as a fast-path prediction.
        service: VigilService = request.app.state.service
        caller = await run_in_threadpool(service.access.authenticate, credentials.credentials)
        cache.put(digest, caller)
    # The access log names the key (never the secret) once it is known.
    request.state.key_id = caller.key_id
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(caller.key_id or caller.actor)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def require_role(role: str) -> Callable[[Caller], Awaitable[Caller]]:
    """Returns a dependency giving the caller if their role is at least ``role``, else 403."""

    async def caller_with_role(caller: CallerDep) -> Caller:
        if not role_allows(caller.role, role):
            raise Forbidden(f"This needs the {role} role; the key has the {caller.role} role.")
        return caller

    caller_with_role.__name__ = f"require_{role}"
    return caller_with_role


ViewerDep = Annotated[Caller, Depends(require_role("viewer"))]
PredictorDep = Annotated[Caller, Depends(require_role("predictor"))]
TrainerDep = Annotated[Caller, Depends(require_role("trainer"))]
AdminDep = Annotated[Caller, Depends(require_role("admin"))]


def check_batch(count: int, settings: ApiSettings, field: str = "instances") -> None:
    """Refuses with 413 a batch of more rows than ``VIGIL_MAX_INSTANCES``."""
    if count > settings.max_instances:
        raise PayloadTooLarge(
            f"The request holds {count} {field}; the limit is {settings.max_instances} "
            "per request. Split the batch.",
            errors=[{"loc": ["body", field], "msg": f"too many {field}"}],
        )
