"""Dependencies every router shares, as annotated aliases (``ServiceDep``, ``TrainerDep``).

Authentication and role checks live here, once: a handler that declares
``caller: TrainerDep`` is refused with 401 without a valid key and 403 below
the trainer role before its body runs. The service checks the role again for
the operations it guards, so a handler that forgets cannot open a hole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vigil.api.metrics import ApiMetrics
from vigil.api.ratelimit import RateLimiter
from vigil.api.settings import ApiSettings
from vigil.errors import Forbidden, PayloadTooLarge, Unauthorized
from vigil.security import role_allows
from vigil.service import Caller, VigilService

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key, sent as `Authorization: Bearer vk_...`.",
)


def get_service(request: Request) -> VigilService:
    """Returns the service the app was started with."""
    service: VigilService = request.app.state.service
    return service


def get_settings(request: Request) -> ApiSettings:
    """Returns the API's limits."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


def get_metrics(request: Request) -> ApiMetrics:
    """Returns the app's metrics."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


ServiceDep = Annotated[VigilService, Depends(get_service)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


def get_caller(
    request: Request,
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Returns the caller the bearer key stands for, after spending one of its rate tokens."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("Send an API key as `Authorization: Bearer KEY`.")
    caller = service.authenticate(credentials.credentials)
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
