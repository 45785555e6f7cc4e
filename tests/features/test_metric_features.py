"""Metric window features: causality, input order, per-series scaling, seasonality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.errors import InvalidInput, UsageError
from vigil.features.extractors import make_extractor
from vigil.features.metrics import MetricWindowFeatures
from vigil.simulate import simulate


@pytest.fixture(scope="module")
def stream() -> pd.DataFrame:
    return simulate("metrics", 4000, anomaly_rate=0.05, seed=11)


@pytest.mark.parametrize(("window", "baseline"), [("1h", "1D"), (12, 288)])
def test_a_feature_at_t_does_not_change_when_later_points_arrive(
    stream: pd.DataFrame, window: str | int, baseline: str | int
) -> None:
    features = MetricWindowFeatures(window=window, baseline_window=baseline).fit(stream)
    full = features.transform(stream)
    for cut in (1000, 2500):
        prefix = features.transform(stream.iloc[:cut])
        assert np.allclose(full.iloc[:cut].to_numpy(), prefix.to_numpy())


def test_changing_a_future_value_leaves_the_past_untouched(stream: pd.DataFrame) -> None:
    features = MetricWindowFeatures().fit(stream)
    altered = stream.copy()
    altered.loc[3000, "value"] = 1e9
    before = features.transform(stream)
    after = features.transform(altered)
    assert np.allclose(before.iloc[:3000].to_numpy(), after.iloc[:3000].to_numpy())
    assert not np.allclose(before.iloc[3000].to_numpy(), after.iloc[3000].to_numpy())


def test_rows_come_back_in_input_order(stream: pd.DataFrame) -> None:
    features = MetricWindowFeatures().fit(stream)
    shuffled = stream.sample(frac=1.0, random_state=0)
    assert np.allclose(
        features.transform(shuffled).to_numpy(),
        features.transform(stream).iloc[shuffled.index].to_numpy(),
    )


def test_lags_differences_and_windows_on_a_hand_made_series() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=6, freq="10min"),
            "value": [1.0, 2.0, 3.0, 4.0, 5.0, 100.0],
        }
    )
    features = MetricWindowFeatures(lags=(1, 2), window=3, baseline_window=4).fit(frame)
    X = features.transform(frame)
    centre, spread = features.scales_[""]
    scaled = (frame["value"] - centre) / spread
    assert np.allclose(X["value"], scaled)
    assert np.allclose(X["lag_1"].iloc[1:], scaled.iloc[:-1])
    assert X["lag_1"].iloc[0] == 0.0  # no history reads as neutral
    assert np.allclose(X["diff_1"].iloc[1:], np.diff(scaled))
    # The rolling mean at the last point covers the three points before it.
    assert X["rolling_mean"].iloc[-1] == pytest.approx(scaled.iloc[2:5].mean())
    assert X["robust_z"].iloc[-1] > 10


def test_range_excess_measures_a_new_extreme_from_the_trailing_range() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=8, freq="10min"),
            "value": [5.0, 6.0, 4.0, 9.0, 8.0, 2.0, 9.0, 4.0],
        }
    )
    features = MetricWindowFeatures(range_window=4, baseline_window=2).fit(frame)
    X = features.transform(frame)
    _, spread = features.scales_[""]
    # Neutral until 2 points (the baseline window) came before; then beyond the highest /
    # lowest of up to the 4 points before.
    expected = np.array([0.0, 0.0, -1.0, 3.0, 0.0, -2.0, 0.0, 0.0]) / spread
    assert np.allclose(X["range_excess"], expected)


def test_a_lasting_level_change_is_a_new_extreme_once() -> None:
    values = np.r_[np.tile([10.0, 11.0, 12.0, 11.0], 50), np.tile([30.0, 31.0, 32.0, 31.0], 50)]
    frame = pd.DataFrame(
        {"timestamp": pd.date_range("2024-01-01", periods=400, freq="10min"), "value": values}
    )
    X = MetricWindowFeatures().fit(frame.iloc[:200]).transform(frame)
    excess = X["range_excess"].to_numpy()
    # The step and the first climb to the new top are new extremes; the plateau is not.
    assert excess[200] > 10
    assert np.count_nonzero(excess[200:]) == 3
    assert np.all(X["value"].to_numpy()[200:] > 10)  # the level stays far from training


def test_range_excess_waits_for_a_day_of_the_stream_at_hand(stream: pd.DataFrame) -> None:
    features = MetricWindowFeatures(columns="detector").fit(stream)
    X = features.transform(stream)
    age = pd.to_datetime(stream["timestamp"]) - pd.to_datetime(stream["timestamp"]).min()
    young = (age < pd.Timedelta("1D")).to_numpy()
    assert young.any() and (X["range_excess"].to_numpy()[young] == 0).all()
    assert (X["range_excess"].to_numpy()[~young] != 0).any()
    # A batch that starts later waits for its own first day: what counts is the history at hand.
    later = stream.iloc[len(stream) // 2 :]
    tail = features.transform(later)["range_excess"].to_numpy()
    assert (tail[: int(young.sum())] == 0).all()


def test_a_lone_point_is_judged_by_its_level_with_or_without_timestamps() -> None:
    values = np.random.default_rng(0).normal(size=300)
    untimed = MetricWindowFeatures(columns="detector").fit(pd.DataFrame({"value": values}))
    assert "value" in untimed.feature_names_
    assert untimed.transform(pd.DataFrame({"value": [1e6]}))["value"].iloc[0] > 100
    timed = MetricWindowFeatures(columns="detector").fit(
        pd.DataFrame(
            {"timestamp": pd.date_range("2024-01-01", periods=300, freq="5min"), "value": values}
        )
    )
    assert "value" not in timed.feature_names_
    lone = pd.DataFrame({"timestamp": ["2024-01-02 10:00"], "value": [1e6]})
    assert timed.transform(lone)["seasonal_z"].iloc[0] == 100.0


def test_a_model_saved_before_range_excess_still_transforms(stream: pd.DataFrame) -> None:
    features = MetricWindowFeatures(columns="detector").fit(stream)
    expected = features.transform(stream).drop(columns=["range_excess"])
    del features.range_window_
    features.feature_names_ = list(expected.columns)
    assert np.allclose(features.transform(stream).to_numpy(), expected.to_numpy())


def test_series_are_scaled_separately(stream: pd.DataFrame) -> None:
    features = MetricWindowFeatures().fit(stream)
    X = features.transform(stream)
    medians = X.groupby(stream["series"])["value"].median()
    assert medians.abs().max() < 0.5
    assert {f"series={s}" for s in stream["series"].unique()} <= set(X.columns)


def test_faults_stand_out_in_the_robust_z_score(stream: pd.DataFrame) -> None:
    X = MetricWindowFeatures().fit(stream).transform(stream)
    spikes = stream["anomaly_type"] == "spike"
    normal = stream["is_anomaly"] == 0
    assert X.loc[spikes, "robust_z"].abs().median() > X.loc[normal, "robust_z"].abs().quantile(0.9)


def test_bad_options_are_refused() -> None:
    frame = pd.DataFrame({"timestamp": ["2024-01-01"], "value": [1.0]})
    with pytest.raises(UsageError, match="duration"):
        MetricWindowFeatures(window="sometimes").fit(frame)
    with pytest.raises(InvalidInput, match="'reading_x'"):
        MetricWindowFeatures(value_column="reading_x").fit(frame)


def test_the_detector_set_leaves_out_the_level_its_copies_and_calendar_coordinates(
    stream: pd.DataFrame,
) -> None:
    full = MetricWindowFeatures().fit(stream)
    detector = MetricWindowFeatures(columns="detector").fit(stream)
    assert {"value", "lag_1", "rolling_mean", "hour_sin", "weekday_cos"} <= set(full.feature_names_)
    kept = set(detector.feature_names_)
    assert not any(n.startswith(("lag_", "hour_", "weekday_")) for n in kept)
    assert not {"value", "rolling_mean"} & kept
    assert {
        "diff_1",
        "rolling_std",
        "rolling_z",
        "robust_z",
        "range_excess",
        "seasonal_z",
    } <= kept
    # The kept columns are the same numbers as in the full set, only fewer.
    X_full = full.transform(stream)
    X_detector = detector.transform(stream)
    assert list(X_detector.columns) == detector.feature_names_
    assert np.allclose(X_detector.to_numpy(), X_full[detector.feature_names_].to_numpy())


def test_an_unknown_column_set_is_refused() -> None:
    frame = pd.DataFrame({"timestamp": ["2024-01-01 00:00"] * 3, "value": [1.0, 2.0, 3.0]})
    with pytest.raises(UsageError, match="columns must be one of all, detector"):
        MetricWindowFeatures(columns="some").fit(frame)


def test_metric_extractor_gives_detectors_the_detector_set(stream: pd.DataFrame) -> None:
    events = stream.drop(columns=["is_anomaly", "anomaly_type"])
    unsupervised = make_extractor("metrics").fit(events, task="anomaly")
    supervised = make_extractor("metrics").fit(events, task="classification")
    assert "lag_1" not in unsupervised.transform(events).features.columns
    assert "lag_1" in supervised.transform(events).features.columns
