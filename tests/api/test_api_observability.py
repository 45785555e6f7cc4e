"""Prometheus metrics by route template, predictions by version, jobs by state; JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from api_support import Api, churn_rows, labelled_rows

from vigil.api.logs import JsonFormatter, request_id_var
from vigil.api.metrics import ApiMetrics
from vigil.api.settings import ApiSettings
from vigil.usecases.models import Models


def sample(text: str, name: str, **labels: str) -> float | None:
    """Returns the value of the Prometheus sample ``name{labels}`` in ``text``, if present."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith((name + "{", name + " ")):
            continue
        series, value = line.rsplit(" ", 1)
        inside = series[len(name) + 1 : -1] if "{" in series else ""
        found = dict(part.split("=", 1) for part in inside.split(",") if part)
        if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
            return float(value)
    return None


def test_requests_are_counted_by_route_template_and_status(api: Api) -> None:
    api.request("GET", "/v1/models/churn")
    api.request("GET", "/v1/models/nope")
    api.request("GET", "/v1/models/other-nope")
    api.client.get("/some/random/path")
    text = api.request("GET", "/metrics").text
    requests = "vigil_http_requests_total"
    assert sample(text, requests, route="/v1/models/{name}", status="200", method="GET") == 1
    assert sample(text, requests, route="/v1/models/{name}", status="404", method="GET") == 2
    assert sample(text, requests, route="<unmatched>", status="404") == 1
    assert "/some/random/path" not in text and "nope" not in text
    latency = "vigil_http_request_duration_seconds_count"
    assert sample(text, latency, route="/v1/models/{name}", status="404") == 2


def test_predictions_are_counted_by_model_and_version(api: Api) -> None:
    path = "/v1/models/churn/predict"
    api.request("POST", path, role="predictor", json={"instances": churn_rows(5)})
    api.request("POST", path, role="predictor", json={"instances": churn_rows(2), "version": 2})
    text = api.request("GET", "/metrics").text
    predictions = "vigil_predictions_total"
    assert sample(text, predictions, tenant="default", model="churn", version="1") == 5
    assert sample(text, predictions, tenant="default", model="churn", version="2") == 2


def test_jobs_are_gauged_by_state(api: Api) -> None:
    body = {"data": {"rows": labelled_rows(60)}, "target": "churned"}
    api.request("POST", "/v1/models/churn/train", json=body)
    api.request("POST", "/v1/models/churn/train", json=body)
    text = api.request("GET", "/metrics").text
    assert sample(text, "vigil_jobs", state="queued") == 2
    api.run_jobs()
    text = api.request("GET", "/metrics").text
    assert sample(text, "vigil_jobs", state="queued") == 0
    assert sample(text, "vigil_jobs", state="succeeded") == 2


def test_the_prediction_log_counts_what_it_wrote_and_dropped(api: Api) -> None:
    answered = api.request(
        "POST", "/v1/models/churn/predict", json={"instances": churn_rows(4)}, role="predictor"
    )
    assert answered.status_code == 200
    api.service.prediction_log.flush()
    text = api.request("GET", "/metrics").text
    assert sample(text, "vigil_prediction_log_records_total", outcome="logged") == 4
    assert sample(text, "vigil_prediction_log_records_total", outcome="dropped") == 0
    assert sample(text, "vigil_prediction_log_pending") == 0


def test_metrics_require_an_admin_or_metrics_key_by_default(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 401
    assert api.request("GET", "/metrics", role="viewer").status_code == 403
    assert api.request("GET", "/metrics", role="admin").status_code == 200
    scraper = api.request("POST", "/v1/keys", json={"role": "metrics"}).json()["key"]
    headers = {"Authorization": f"Bearer {scraper}"}
    assert api.client.get("/metrics", headers=headers).status_code == 200
    # A scraper's key opens nothing else.
    assert api.client.get("/v1/models", headers=headers).status_code == 403


@pytest.mark.parametrize("api_settings", [ApiSettings(metrics_require_key=False)])
def test_metrics_are_open_only_by_setting(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 200


def test_each_request_writes_one_access_log_line_with_its_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="vigil.access"):
        response = api.request(
            "GET", "/v1/models/churn", role="viewer", headers={"X-Request-ID": "abc-123"}
        )
    records = [r for r in caplog.records if r.name == "vigil.access"]
    assert len(records) == 1
    record = records[0]
    assert response.headers["x-request-id"] == "abc-123"
    assert record.request_id == "abc-123"  # type: ignore[attr-defined]
    assert record.route == "/v1/models/{name}"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert record.method == "GET"  # type: ignore[attr-defined]
    viewer_key_id = api.keys[("default", "viewer")].split("_")[1]
    assert record.key_id == viewer_key_id  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "abc-123" and line["status"] == 200
    assert api.keys[("default", "viewer")] not in json.dumps(line)


def test_unhandled_errors_are_logged_with_the_request_id(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Models, caller: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Models, "list_models", explode)
    with caplog.at_level(logging.INFO):
        response = api.request("GET", "/v1/models")
    request_id = response.headers["x-request-id"]
    errors = [r for r in caplog.records if r.name == "vigil.api" and r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None
    line = json.loads(JsonFormatter().format(errors[0]))
    assert line["request_id"] == request_id and "RuntimeError: boom" in line["exc"]


def test_json_formatter_takes_the_request_id_from_the_context() -> None:
    record = logging.LogRecord("vigil.jobs", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    token = request_id_var.set("ctx-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "hello x" and line["request_id"] == "ctx-1"
    assert line["level"] == "info" and line["logger"] == "vigil.jobs"


def test_a_failing_job_count_leaves_the_gauge_out_not_the_scrape() -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("database is down")

    text = ApiMetrics(job_counts=broken).render().decode()
    assert "vigil_jobs{" not in text
    working = ApiMetrics(job_counts=lambda: {"running": 2}).render().decode()
    assert sample(working, "vigil_jobs", state="running") == 2
    assert sample(working, "vigil_jobs", state="queued") == 0
