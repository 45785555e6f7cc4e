"""Rolling windows without floating-point residue: exact zeros where nothing changed.

Issue 13: on an access log, ``window_error_rate`` read -1e-16 where no error
was in the window (the running sums were centred on the batch's mean error
rate), and a detector judged that residue extreme against a training range of
[5.2e-17, 0.48]. These series are made by hand so the exact answer is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vigil.features.logs import LogEventFeatures
from vigil.features.windows import (
    covered_cycles,
    rolling_by_group,
    snap_to_ranges,
    training_ranges,
)

SECOND = 1_000_000_000
WINDOW = 10 * SECOND


def test_a_window_without_errors_has_an_error_rate_of_exactly_zero() -> None:
    # Errors early on, then a long quiet stretch: the overall mean (the old centre) is 0.3.
    errors = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], float)
    times = np.arange(len(errors)) * 2 * SECOND
    window = rolling_by_group(times, np.zeros(len(errors), np.int64), WINDOW, {"error": errors})
    rate = window["error_sum"] / window["count"]
    quiet = times - times[3] >= WINDOW  # windows that no longer reach an error
    assert quiet.sum() > 10
    assert (rate[quiet] == 0.0).all()
    assert (window["error_std"][quiet] == 0.0).all()
    assert (window["error_sum"] == np.round(window["error_sum"])).all()
    # Equal windows give equal rates, bit for bit, wherever they sit in the batch.
    assert rate[1] == 1.0 and rate[5] == rate[5]


def test_a_constant_latency_has_exactly_its_value_as_mean_and_median_and_zero_spread() -> None:
    latency = np.array([0.731, 0.052, 0.313] + [0.1] * 17)  # decimals: not exact in binary
    times = np.arange(len(latency)) * SECOND
    window = rolling_by_group(
        times, np.zeros(len(latency), np.int64), WINDOW, {"latency": latency}, ("latency",)
    )
    # A window (t - 10 s, t] holds ten events: from the 13th on, only the 0.1 run.
    settled = np.arange(len(latency)) >= 3 + 9
    assert (window["latency_std"][settled] == 0.0).all()
    assert (window["latency_mean"][settled] == 0.1).all()
    assert (window["latency_median"][settled] == 0.1).all()
    assert (window["latency_std"][~settled][1:] > 0.0).all()


def test_groups_and_missing_values_do_not_leak_into_a_constant_window() -> None:
    latency = np.array([5.0, 7.0, 5.0, np.nan, 5.0, 5.0])
    groups = np.array([0, 1, 0, 0, 0, 0])
    times = np.arange(6) * SECOND
    window = rolling_by_group(times, groups, 100 * SECOND, {"latency": latency})
    # Group 0 sees 5, 5, nan, 5, 5: never changed, though a value is missing.
    assert window["latency_mean"][[0, 2, 4, 5]].tolist() == [5.0, 5.0, 5.0, 5.0]
    assert window["latency_std"][[0, 2, 4, 5]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert window["latency_n"].tolist() == [1, 1, 2, 2, 3, 4]


def test_a_window_gives_the_same_statistics_whatever_batch_it_sits_in() -> None:
    # Request times with three decimals, like nginx's: not exact in binary floating point.
    rng = np.random.default_rng(11)
    latency = rng.lognormal(np.log(0.05), 1.0, 300).round(3)
    times = np.cumsum(rng.integers(0, 3, 300)) * SECOND
    groups = rng.integers(0, 2, 300)
    whole = rolling_by_group(times, groups, WINDOW, {"latency": latency}, ("latency",))
    tail = slice(150, 300)
    piece = rolling_by_group(
        times[tail], groups[tail], WINDOW, {"latency": latency[tail]}, ("latency",)
    )
    # Rows whose window lies inside the piece: equal bit for bit, not merely close.
    inside = times[tail] - WINDOW >= times[150]
    assert inside.sum() > 100
    for key in ("latency_mean", "latency_std", "latency_sum", "latency_median"):
        assert np.array_equal(whole[key][tail][inside], piece[key][inside]), key


def _events(errors: list[int], start: str = "2024-01-01 09:00:00") -> pd.DataFrame:
    rows = len(errors)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=rows, freq="5s"),
            "level": ["ERROR" if e else "INFO" for e in errors],
            "message": ["GET /api/x"] * rows,
            "response_time": [12.5] * rows,
        }
    )


def test_log_features_read_exact_zeros_where_nothing_changed() -> None:
    rng = np.random.default_rng(4)
    training = _events((rng.random(400) < 0.1).astype(int).tolist())
    features = LogEventFeatures(window="1min").fit(training)
    new = _events([1] * 3 + [0] * 60, start="2024-01-01 09:40:00")
    X = features.transform(new)
    calm = X["window_error_rate"].notna() & (np.arange(len(new)) >= 3 + 12)
    assert calm.sum() > 40
    assert (X.loc[calm, "window_error_rate"] == 0.0).all()
    assert (X.loc[X["window_latency_std"].notna(), "window_latency_std"] == 0.0).all()
    assert (X.loc[X["window_latency_mean"].notna(), "window_latency_mean"] == 12.5).all()
    # Nothing below the training minimum: a detector has no residue to call extreme.
    assert features.window_ranges_ is not None
    for name, (low, _high) in features.window_ranges_.items():
        values = X[name].dropna()
        assert (values >= low).all(), name


def test_values_within_resolution_of_the_training_range_are_put_on_it() -> None:
    ranges = training_ranges({"rate": np.array([0.0, 0.25, 0.48, np.nan])})
    assert ranges == {"rate": (0.0, 0.48)}
    values = np.array([-1e-16, 0.48000000000000004, 0.4800001, -0.01, 0.3, np.nan])
    snapped = snap_to_ranges({"rate": values, "other": values}, ranges)
    assert snapped["rate"][:2].tolist() == [0.0, 0.48]
    # Real differences stay: beyond the resolution, and inside the range.
    assert snapped["rate"][2:5].tolist() == [0.4800001, -0.01, 0.3]
    assert np.isnan(snapped["rate"][5])
    assert snapped["other"] is values


def test_time_of_day_is_a_feature_only_when_training_saw_a_whole_day() -> None:
    assert covered_cycles(np.array([0, 3600 * SECOND])) == ()
    assert covered_cycles(np.array([0, 86_400 * SECOND])) == ("hour",)
    assert covered_cycles(np.array([0, 8 * 86_400 * SECOND])) == ("hour", "weekday")
    half_hour = LogEventFeatures().fit(_events([0] * 360))
    assert not any(n.startswith(("hour_", "weekday_")) for n in half_hour.feature_names_)
    days = _events([0] * 100)
    days["timestamp"] = pd.date_range("2024-01-01", periods=100, freq="30min")
    two_days = LogEventFeatures().fit(days)
    assert {"hour_sin", "hour_cos"} <= set(two_days.feature_names_)
    assert "weekday_sin" not in two_days.feature_names_


def test_for_detectors_windows_are_tied_to_the_event_scored() -> None:
    # A burst of errors with 60 s timeouts, then normal traffic: in "event" mode the normal
    # lines after it do not inherit the burst's error rate or its latency.
    rng = np.random.default_rng(8)
    training = _events((rng.random(400) < 0.02).astype(int).tolist())
    training["response_time"] = rng.lognormal(np.log(30.0), 0.3, len(training)).round(1)
    detector = LogEventFeatures(window="1min", windows="event").fit(training)
    # 15 normal requests (a full minute of context), 8 failures, 30 normal requests.
    new = _events([0] * 15 + [1] * 8 + [0] * 30, start="2024-01-01 09:40:00")
    new["response_time"] = [30.0] * 15 + [60_000.0] * 8 + [30.0] * 30
    X = detector.transform(new)
    assert not any(
        n.startswith("window_latency_") and n != "window_latency_vs_service"
        for n in detector.feature_names_
    )
    # Less than a day of training: volume is not learnable, so no count features.
    assert "window_count" not in detector.feature_names_
    burst = (np.arange(len(new)) >= 15) & (np.arange(len(new)) < 23)
    after = np.arange(len(new)) >= 23
    assert (X.loc[after, "window_error_rate"] == 0.0).all()
    assert (X.loc[burst, "window_error_rate"] > 0.0).all()
    # The window is still slow after the burst, but these requests are not.
    assert (X.loc[after, "window_latency_vs_service"] <= X.loc[after, "latency_vs_service"]).all()
    context = LogEventFeatures(window="1min").fit(training)
    assert {"window_count", "window_latency_mean"} <= set(context.feature_names_)
    # As context, the next minute of successes carries the burst's error rate.
    assert (context.transform(new).loc[after, "window_error_rate"] > 0).sum() >= 10


def test_latency_is_judged_against_the_events_own_template() -> None:
    rng = np.random.default_rng(2)
    rows = 400
    health = rng.random(rows) < 0.5
    events = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01 09:00", periods=rows, freq="2s"),
            "message": np.where(health, "GET /health", "POST /api/checkout"),
            "response_time": np.where(health, 1.0, 250.0) * rng.lognormal(0.0, 0.2, rows),
        }
    )
    features = LogEventFeatures(windows="event").fit(events)
    new = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01 09:20", periods=3, freq="2s"),
            "message": ["POST /api/checkout", "GET /health", "POST /api/not-seen-before x y z"],
            "response_time": [250.0, 40.0, 250.0],
        }
    )
    X = features.transform(new)
    # A usual checkout is slow for the service as a whole, but not for a checkout;
    # a 40 ms health check is fast for the service, but forty times its usual.
    assert abs(X["latency_vs_template"][0]) < 1.0 < X["latency_vs_service"][0]
    assert X["latency_vs_template"][1] > 5.0 > X["latency_vs_service"][1]
    # A template without a baseline falls back to the service's.
    assert X["latency_vs_template"][2] == X["latency_vs_service"][2]


def test_metric_windows_read_exact_zeros_on_a_flat_stretch() -> None:
    from vigil.features.metrics import MetricWindowFeatures

    # A noisy level with three decimals, then a flat stretch: every change, spread and
    # z-score over windows that hold only the flat stretch is exactly 0.
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(50.0, 5.0, 400).round(3), np.full(60, 42.7)])
    frame = pd.DataFrame(
        {"timestamp": pd.date_range("2024-01-01", periods=460, freq="5min"), "value": values}
    )
    X = MetricWindowFeatures(columns="all").fit(frame.iloc[:400]).transform(frame)
    flat = X.iloc[-40:]  # the one-hour window (12 points) holds only 42.7 from point 413 on
    assert (flat["rolling_std"] == 0.0).all()
    assert (flat["rolling_z"] == 0.0).all()
    assert (flat["rolling_mean"] == flat["value"]).all()
    assert (flat["diff_1"] == 0.0).all()
