"""The default rate limit lets one client send thousands of requests per second."""

from __future__ import annotations

import pytest

from vigil.api.ratelimit import RateLimiter
from vigil.api.settings import ApiSettings
from vigil.errors import RateLimited


def test_default_limit_lets_a_sequential_client_send_5000_requests_in_one_second() -> None:
    settings = ApiSettings.from_env({})
    now = [0.0]
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst, clock=lambda: now[0])
    for i in range(5000):
        now[0] = i / 5000  # 5,000 requests spread over one second
        limiter.check("key")


def test_default_limit_still_stops_a_runaway_client() -> None:
    settings = ApiSettings.from_env({})
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst, clock=lambda: 0.0)
    for _ in range(settings.rate_burst):
        limiter.check("key")
    with pytest.raises(RateLimited):
        limiter.check("key")
