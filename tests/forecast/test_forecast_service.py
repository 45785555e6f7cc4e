"""Forecasting as a task of the service, through the ``vigil`` command.

Train (a version with its backtest metrics, per series too), forecast from
the end of training or from newer history without retraining, refuse bad
input naming it, join actuals by series and time into live MASE and
coverage, and retrain on those actuals with the champion compared on the
same backtest windows. Real components: SQLite, the artifact store, the
prediction log, statsforecast.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_support import run_cli
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.errors import InvalidInput, UsageError
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate import simulate, write_frame
from vigil.training.request import train_spec_from_request

HORIZON = 12
HOURS = 24 * 14  # two weeks of training data per series
SERIES = ["store_1/coffee", "store_1/snacks", "store_2/coffee", "store_2/snacks"]
TRAIN = {
    "horizon": HORIZON,
    "series": "series",
    "target": "sales",
    "algorithm": "seasonal_naive",
    "cv": 2,
}
ENV_NAMES = ("VIGIL_DATABASE_URL", "VIGIL_ARTIFACT_URI", "VIGIL_SECRET_KEY", "VIGIL_ADMIN_KEY")
ADMIN = Caller(tenant="default", actor="test", role="admin")


def _sales() -> pd.DataFrame:
    """Returns three weeks of simulated sales: two to train on, the third arriving later."""
    return simulate("sales", rows=24 * 21 * len(SERIES), seed=11)


def _split() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = _sales()
    cut = frame["timestamp"].min() + pd.Timedelta(hours=HOURS)
    return frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Returns a VIGIL_HOME (built once) with ``sales`` v1 trained on two weeks; copy it."""
    home = tmp_path_factory.mktemp("forecast-home")
    train, _ = _split()
    write_frame(train, home / "train.csv")
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    try:
        spec = train_spec_from_request(TRAIN)
        service.training.train(ADMIN, "sales", load_dataset(home / "train.csv"), spec)
    finally:
        service.close()
    return home


@pytest.fixture
def home(trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Returns this test's copy of the trained home, set as VIGIL_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(trained_home, copy)
    monkeypatch.setenv("VIGIL_HOME", str(copy))
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return copy


@pytest.fixture
def service(home: Path) -> Iterator[VigilService]:
    opened = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    yield opened
    opened.close()


def vigil(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, Any, str]:
    """Runs ``vigil ARGS`` in-process; returns (exit code, stdout as JSON or text, stderr)."""
    result = run_cli(capsys, *args)
    try:
        return result.code, result.json(), result.stderr
    except json.JSONDecodeError:
        return result.code, result.stdout, result.stderr


def test_the_cli_trains_a_forecast_version_with_its_backtest_per_series(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [f"--{k}={v}" for k, v in TRAIN.items()]
    code, result, err = vigil(
        capsys, "train", home / "train.csv", "--name", "trend", *flags, "--json"
    )

    assert code == 0, err
    assert result["task"] == "forecast" and result["algorithm"] == "seasonal_naive"
    assert {"mase", "smape", "rmse", "coverage_80", "coverage_95"} <= set(result["metrics"])
    assert result["forecast"]["horizon"] == HORIZON
    assert result["forecast"]["backtest_windows"] == 2
    assert result["forecast"]["series"] == SERIES
    # Units sold are never negative: every series' forecasts stop at 0.
    assert result["forecast"]["nonnegative_series"] == SERIES
    assert sorted(result["metrics_by_series"]) == SERIES
    assert result["rows"] == {"total": HOURS * 4, "train": HOURS * 4, "test": 2 * HORIZON * 4}
    # The version keeps what training said: metrics and the per-series backtest.
    code, versions, err = vigil(capsys, "models", "versions", "trend", "--json")
    stored = versions["versions"][0]
    assert stored["task"] == "forecast"
    assert stored["metrics"]["mase"] == result["metrics"]["mase"]
    assert stored["metrics_by_series"] == result["metrics_by_series"]
    assert [c["name"] for c in stored["features"]] == ["timestamp", "series", "sales"]


def test_a_horizon_makes_an_auto_task_a_forecast() -> None:
    spec = train_spec_from_request({"horizon": 24})
    assert (spec.task, spec.horizon, spec.cv) == ("forecast", 24, 3)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--task", "forecast"], "horizon is required for task forecast"),
        (["--horizon", "0"], "horizon should be greater than or equal to 1"),
        (["--task", "regression", "--horizon", "5"], "horizon applies to task forecast only"),
        (["--series", "store"], "series applies to task forecast only"),
        (["--horizon", "5", "--features", "metrics"], "does not apply to task forecast"),
    ],
)
def test_a_bad_forecast_request_is_refused_naming_the_flag(
    home: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code, _, err = vigil(capsys, "train", home / "train.csv", "--name", "x", *flags)
    assert code == 2
    assert message in err


def test_the_cli_forecasts_every_series_from_the_end_of_training(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, answer, err = vigil(capsys, "predict", "sales", "--horizon", "6", "--json")

    assert code == 0, err
    points = answer["predictions"]
    assert len(points) == 4 * 6
    assert {p["series"] for p in points} == set(SERIES)
    end = _split()[0]["timestamp"].max()
    expected = [(end + pd.Timedelta(hours=k)).isoformat() for k in range(1, 7)]
    assert [p["timestamp"] for p in points if p["series"] == SERIES[0]] == expected
    for p in points:
        assert set(p) >= {"id", "version", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"}
        assert p["lo_95"] <= p["lo_80"] <= p["forecast"] <= p["hi_80"] <= p["hi_95"]
    code, one, _ = vigil(
        capsys, "predict", "sales", "--horizon", "3", "--series", SERIES[1], "--level", "50"
    )
    assert code == 0
    assert "lo_50" in one and SERIES[1] in one and SERIES[0] not in one


def test_history_moves_the_forecast_on_without_retraining(
    home: Path, service: VigilService, capsys: pytest.CaptureFixture[str]
) -> None:
    _, later = _split()
    coffee = later[later["series"] == SERIES[0]].iloc[:30]  # 30 newer hours of one series
    write_frame(coffee, home / "newer.csv")

    code, answer, err = vigil(
        capsys,
        "predict",
        "sales",
        home / "newer.csv",
        "--horizon",
        "6",
        "--series",
        SERIES[0],
        "--json",
    )

    assert code == 0, err
    points = answer["predictions"]
    end = coffee["timestamp"].max()
    assert [p["timestamp"] for p in points] == [
        (end + pd.Timedelta(hours=k)).isoformat() for k in range(1, 7)
    ]
    # Seasonal naive repeats the last day: the history's own hours, not training's.
    day_before = coffee["sales"].to_numpy(dtype=float)[-24:][:6]
    np.testing.assert_allclose([p["forecast"] for p in points], day_before)
    assert len(service.models.list_versions(ADMIN, "sales")) == 1  # nothing was retrained


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "13"], "horizon must be a whole number from 1 to 12"),
        (["--horizon", "0"], "horizon must be a whole number from 1 to 12"),
        (["--horizon", "2", "--series", "store_9/tea"], "Unknown series 'store_9/tea'"),
        (["--horizon", "2", "--level", "120"], "--level takes per cents from 1 to 99"),
    ],
)
def test_bad_forecast_requests_get_errors_naming_them(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = vigil(capsys, "predict", "sales", *args)
    assert code in (1, 2)
    assert message in err


def test_a_history_with_a_word_for_a_value_is_refused_naming_row_and_column(
    home: Path, service: VigilService
) -> None:
    from vigil.serving.forecasts import ForecastRequest

    history = [
        {"timestamp": "2024-01-15T00:00:00", "series": SERIES[0], "sales": 3},
        {"timestamp": "2024-01-15T01:00:00", "series": SERIES[0], "sales": "many"},
    ]
    with pytest.raises(InvalidInput) as refused:
        service.predictions.forecast(ADMIN, "sales", ForecastRequest(2, history=history))
    assert refused.value.message == "history[1].sales must be a finite number, got 'many'."
    assert refused.value.errors == [
        {"loc": ["history", 1, "sales"], "msg": "must be a finite number"}
    ]
    unknown = [{"timestamp": "2024-01-15T00:00:00", "series": "store_3/tea", "sales": 1}]
    with pytest.raises(InvalidInput, match=r"history\[0\]\.series is not a series of the model"):
        service.predictions.forecast(ADMIN, "sales", ForecastRequest(2, history=unknown))


def test_rows_sent_to_a_forecaster_are_refused_with_what_to_send(service: VigilService) -> None:
    with pytest.raises(InvalidInput, match="ask it for a horizon"):
        service.predictions.predict(ADMIN, "sales", [{"sales": 1}])


def test_actuals_by_series_and_time_give_live_mase_and_coverage(
    home: Path, service: VigilService, capsys: pytest.CaptureFixture[str]
) -> None:
    code, answer, _ = vigil(capsys, "predict", "sales", "--horizon", "6", "--json")
    assert code == 0
    _, later = _split()
    actuals = later[later["timestamp"] < later["timestamp"].min() + pd.Timedelta(hours=6)]
    write_frame(actuals, home / "actuals.csv")

    code, joined, err = vigil(capsys, "feedback", "sales", home / "actuals.csv", "--json")

    assert code == 0, err
    assert joined == {"accepted": 24, "unchanged": 0, "unknown": []}
    code, report, _ = vigil(capsys, "monitor", "sales", "--json")
    live = report["performance"]["windows"]["last_hour"]["versions"]["1"]
    assert live["predictions"] == 24 and live["feedback"] == 24
    truth = {(r.series, r.timestamp.isoformat()): float(r.sales) for r in actuals.itertuples()}
    scales = service.predictions.load_bundle("default", "sales", 1).scales
    errors = [
        abs(truth[(p["series"], p["timestamp"])] - p["forecast"]) / scales[p["series"]]
        for p in answer["predictions"]
    ]
    inside = [
        p["lo_80"] <= truth[(p["series"], p["timestamp"])] <= p["hi_80"]
        for p in answer["predictions"]
    ]
    assert live["metrics"]["mase"] == pytest.approx(np.mean(errors))
    assert live["metrics"]["coverage_80"] == pytest.approx(np.mean(inside))
    assert 0 <= live["metrics"]["coverage_95"] <= 1
    # The same actuals again change nothing; a time never forecast is reported unknown.
    code, again, _ = vigil(capsys, "feedback", "sales", home / "actuals.csv", "--json")
    assert again == {"accepted": 0, "unchanged": 24, "unknown": []}
    outcome = service.monitoring.record_feedback(
        ADMIN, "sales", [{"series": SERIES[0], "timestamp": "2023-01-01T00:00:00", "actual": 1}]
    )
    assert outcome["unknown"] == [f"{SERIES[0]} at 2023-01-01T00:00:00"]


def test_actuals_that_cannot_be_joined_are_refused_naming_the_item(
    service: VigilService,
) -> None:
    service.predictions.forecast(ADMIN, "sales", _request(2))
    with pytest.raises(InvalidInput, match="item 0: actual must be a finite number"):
        service.monitoring.record_feedback(
            ADMIN, "sales", [{"series": SERIES[0], "timestamp": "2024-01-15", "actual": "x"}]
        )
    with pytest.raises(InvalidInput, match="item 0: timestamp must be a time"):
        service.monitoring.record_feedback(
            ADMIN, "sales", [{"series": SERIES[0], "timestamp": "soon", "actual": 1}]
        )
    with pytest.raises(InvalidInput, match="item 0: series is required"):
        service.monitoring.record_feedback(
            ADMIN, "sales", [{"timestamp": "2024-01-15T00:00:00", "actual": 1}]
        )


def test_retraining_learns_the_actuals_and_compares_on_the_same_backtest_windows(
    home: Path, service: VigilService
) -> None:
    service.predictions.forecast(ADMIN, "sales", _request(HORIZON))
    _, later = _split()
    first = later[later["timestamp"] < later["timestamp"].min() + pd.Timedelta(hours=HORIZON)]
    items = [
        {"series": r.series, "timestamp": r.timestamp.isoformat(), "actual": int(r.sales)}
        for r in first.itertuples()
    ]
    assert service.monitoring.record_feedback(ADMIN, "sales", items)["accepted"] == 4 * HORIZON

    result = service.retraining.retrain(ADMIN, "sales", reason="test")

    assert (result["champion"], result["challenger"], result["metric"]) == (1, 2, "mase")
    assert result["data"] == {"original_rows": HOURS * 4, "rows": (HOURS + HORIZON) * 4}
    challenger = service.models.get_version(ADMIN, "sales", 2)
    assert result["challenger_score"] == pytest.approx(challenger.metrics["mase"])
    # Same algorithm, same data, same windows: the champion's backtest is the challenger's.
    assert result["champion_score"] == pytest.approx(result["challenger_score"])
    assert result["promoted"] is False  # not better by the margin
    end = service.predictions.forecast(ADMIN, "sales", _request(1), version=2).predictions[0]
    assert end["timestamp"] == (first["timestamp"].max() + pd.Timedelta(hours=1)).isoformat()


def test_a_forecast_request_to_another_kind_of_model_is_refused(
    home: Path, service: VigilService
) -> None:
    rows = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40.0) * 2})
    write_frame(rows, home / "table.csv")
    spec = train_spec_from_request({"target": "y", "algorithm": "linear_regression"})
    service.training.train(ADMIN, "line", load_dataset(home / "table.csv"), spec)
    with pytest.raises(InvalidInput, match="This is a regression model: send instances"):
        service.predictions.forecast(ADMIN, "line", _request(2))
    with pytest.raises(UsageError, match="horizon applies to task forecast only"):
        train_spec_from_request({"target": "y", "horizon": 2, "task": "regression"})


def _request(horizon: int) -> Any:
    from vigil.serving.forecasts import ForecastRequest

    return ForecastRequest(horizon)


def test_a_policy_retrains_a_forecaster_when_actuals_arrive(service: VigilService) -> None:
    service.policies.put_policy(
        ADMIN,
        "sales",
        {"metric": "mase", "triggers": {"feedback_count": 4 * HORIZON}, "min_feedback": 10},
    )
    points = service.predictions.forecast(ADMIN, "sales", _request(HORIZON)).predictions
    _, later = _split()
    truth = later.set_index(["series", "timestamp"])["sales"]
    items = [
        {
            "series": p["series"],
            "timestamp": p["timestamp"],
            "actual": int(truth[(p["series"], pd.Timestamp(p["timestamp"]))]),
        }
        for p in points
    ]
    service.monitoring.record_feedback(ADMIN, "sales", items)

    reports = service.scheduling.lifecycle_tick()

    assert reports is not None
    assert any(a.startswith("retrain") for a in reports[0]["actions"]), reports
    assert service.jobs.run_pending_jobs() == 1
    job = next(j for j in service.jobs.list_jobs(ADMIN) if j["kind"] == "retrain")
    assert job["status"] == "succeeded", job
    assert job["result"]["metric"] == "mase" and job["result"]["challenger"] == 2
    assert job["result"]["data"]["rows"] == (HOURS + HORIZON) * 4
    live = service.monitoring.live_summary(
        ADMIN, "sales", 1, since=service.now() - timedelta(hours=1)
    )
    assert live["feedback"] == 4 * HORIZON and "mase" in live["metrics"]


def test_the_cli_prints_the_backtest_of_each_series(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: table cells are not cut
    flags = [f"--{k}={v}" for k, v in TRAIN.items()]
    code, text, err = vigil(capsys, "train", home / "train.csv", "--name", "printed", *flags)

    assert code == 0, err
    assert "Trained printed version 1 (forecast, seasonal_naive) on 1344 rows" in text
    assert "Backtest per series (4)" in text
    assert all(series in text for series in SERIES)
    # seasonal_naive takes no regressors: the numeric columns are noted, not used.
    assert "Columns not used by the forecast: promotion, holiday (seasonal_naive" in text
