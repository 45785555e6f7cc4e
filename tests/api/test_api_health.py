"""/health: ok, or degraded with the reason while prediction-log writes fail."""

from __future__ import annotations

from api_support import Api, churn_rows
from sqlalchemy import text


def test_health_turns_degraded_while_the_prediction_log_cannot_write(api: Api) -> None:
    assert api.client.get("/health").json()["status"] == "ok"
    engine = api.service.store.engine
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE predictions RENAME TO predictions_away"))
    answered = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": churn_rows(2)}
    )
    assert answered.status_code == 200
    api.service.prediction_log.flush()
    health = api.client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["reason"].startswith("prediction log writes are failing: ")
    assert "predictions" in body["reason"]

    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE predictions_away RENAME TO predictions"))
    # The retried batch is written (nothing was lost) and the health comes back. The
    # writer thread may retry first, so what counts is that nothing is left pending.
    api.service.prediction_log.flush()
    assert api.service.prediction_log.stats.pending == 0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM predictions")).scalar_one() >= 2
    assert api.client.get("/health").json() == {
        "status": "ok",
        "version": body["version"],
    }
