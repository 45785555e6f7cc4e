"""Request limits: body size (413), instances per request (413), per-key rate (429)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import Api, churn_rows

from vigil.api.ratelimit import RateLimiter
from vigil.api.settings import ApiSettings
from vigil.errors import RateLimited


@pytest.mark.parametrize("api_settings", [ApiSettings(max_body_bytes=2000)])
def test_body_over_the_declared_limit_is_refused_unread(api: Api) -> None:
    rows = [{"name": "x" * 100}] * 50
    response = api.request("POST", "/v1/datasets", json={"name": "big", "rows": rows})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "2000 bytes" in response.json()["detail"]
    events = api.request("GET", "/v1/audit").json()["events"]
    # (Training the fixtures' models kept their training rows as datasets; none is "big".)
    assert not any(
        e["action"] == "dataset.create" and e["detail"].get("name") == "big" for e in events
    )


@pytest.mark.parametrize("api_settings", [ApiSettings(max_body_bytes=2000)])
def test_streamed_body_over_the_limit_is_refused(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "rows": ['
        for _ in range(100):
            yield b'{"a": "' + b"y" * 50 + b'"},'
        yield b'{"a": "z"}]}'

    response = api.request(
        "POST",
        "/v1/datasets",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("api_settings", [ApiSettings(max_body_bytes=2000)])
def test_body_under_the_limit_is_served(api: Api) -> None:
    response = api.request("POST", "/v1/datasets", json={"name": "ok", "rows": [{"a": 1}]})
    assert response.status_code == 201


@pytest.mark.parametrize("api_settings", [ApiSettings(max_instances=3)])
def test_more_instances_than_the_limit_is_413(api: Api) -> None:
    path = "/v1/models/churn/predict"
    over = api.request("POST", path, role="predictor", json={"instances": churn_rows(4)})
    assert over.status_code == 413
    assert "limit is 3" in over.json()["detail"]
    assert over.json()["errors"][0]["loc"] == ["body", "instances"]
    at_limit = api.request("POST", path, role="predictor", json={"instances": churn_rows(3)})
    assert at_limit.status_code == 200


@pytest.mark.parametrize("api_settings", [ApiSettings(rate_limit=2, rate_burst=3)])
def test_a_key_over_its_rate_gets_429_with_retry_after(api: Api) -> None:
    for _ in range(3):
        assert api.request("GET", "/v1/models", role="viewer").status_code == 200
    limited = api.request("GET", "/v1/models", role="viewer")
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["retry-after"] == "1"
    assert "retry after 1 second." in limited.json()["detail"]
    # Other keys have their own buckets.
    assert api.request("GET", "/v1/models", role="trainer").status_code == 200
    api.clock.advance(0.5)  # one token at 2 per second
    assert api.request("GET", "/v1/models", role="viewer").status_code == 200
    assert api.request("GET", "/v1/models", role="viewer").status_code == 429


@pytest.mark.parametrize("api_settings", [ApiSettings(rate_limit=1, rate_burst=1)])
def test_health_is_never_rate_limited(api: Api) -> None:
    for _ in range(5):
        assert api.client.get("/health").status_code == 200


def test_token_bucket_refills_to_burst_and_reports_the_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=4, burst=2, clock=lambda: now[0])
    limiter.check("k")
    limiter.check("k")
    with pytest.raises(RateLimited) as refused:
        limiter.check("k")
    # Whole seconds, rounded up, as the Retry-After header says them.
    assert refused.value.retry_after == 1.0
    assert "retry after 1 second." in refused.value.message
    now[0] += 100  # a long pause refills only up to the burst
    limiter.check("k")
    limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")


def test_rate_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(rate=0, burst=0, clock=lambda: 0.0)
    for _ in range(1000):
        limiter.check("k")


def test_settings_read_the_environment_and_refuse_nonsense() -> None:
    settings = ApiSettings.from_env(
        {
            "VIGIL_MAX_BODY_BYTES": "1024",
            "VIGIL_MAX_INSTANCES": "7",
            "VIGIL_RATE_LIMIT": "2.5",
            "VIGIL_RATE_BURST": "5",
            "VIGIL_METRICS_REQUIRE_KEY": "yes",
        }
    )
    assert (settings.max_body_bytes, settings.max_instances) == (1024, 7)
    assert (settings.rate_limit, settings.rate_burst) == (2.5, 5)
    assert settings.metrics_require_key is True
    assert ApiSettings.from_env({}) == ApiSettings()
    assert ApiSettings().max_body_bytes == 32 * 1024 * 1024
    with pytest.raises(ValueError, match="VIGIL_MAX_INSTANCES"):
        ApiSettings.from_env({"VIGIL_MAX_INSTANCES": "lots"})
    with pytest.raises(ValueError, match="VIGIL_MAX_BODY_BYTES"):
        ApiSettings.from_env({"VIGIL_MAX_BODY_BYTES": "0"})
