"""``vigil simulate sales``: hourly sales with daily and weekly cycles, trend, promotions."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vigil.cli.main import main
from vigil.errors import UsageError
from vigil.simulate import SERIES_KINDS, simulate, write_frame
from vigil.simulate.sales import HOLIDAY_EFFECT, SERIES_COUNT

EIGHT_WEEKS = 24 * 7 * 8 * SERIES_COUNT


@cache
def _sales(seed: int = 3) -> pd.DataFrame:
    return simulate("sales", rows=EIGHT_WEEKS, seed=seed)


def test_sales_are_hourly_points_of_four_series_in_long_format() -> None:
    frame = _sales()
    assert SERIES_KINDS == ("sales",)
    assert list(frame.columns) == ["timestamp", "series", "sales", "promotion", "holiday"]
    assert len(frame) == EIGHT_WEEKS
    assert sorted(frame["series"].unique()) == [
        "store_1/coffee",
        "store_1/snacks",
        "store_2/coffee",
        "store_2/snacks",
    ]
    for _, group in frame.groupby("series"):
        steps = group["timestamp"].diff().dropna().unique()
        assert list(steps) == [pd.Timedelta(hours=1)]  # no gap, no duplicate
        assert len(group) == EIGHT_WEEKS // SERIES_COUNT
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 00:00")
    assert (frame["sales"] >= 0).all() and frame["sales"].dtype == np.int64
    assert set(frame["promotion"].unique()) <= {0, 1} and set(frame["holiday"].unique()) <= {0, 1}


def test_the_same_seed_gives_the_same_sales_and_another_seed_others(tmp_path: Path) -> None:
    assert simulate("sales", rows=EIGHT_WEEKS, seed=3).equals(_sales(3))
    assert not _sales(4)["sales"].equals(_sales(3)["sales"])
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_frame(_sales(3), first)
    write_frame(_sales(3), second)
    assert first.read_bytes() == second.read_bytes()


def test_sales_have_a_daily_cycle_and_a_weekly_one() -> None:
    frame = _sales().assign(
        hour=lambda f: f["timestamp"].dt.hour, weekday=lambda f: f["timestamp"].dt.weekday
    )
    ordinary = frame[(frame["promotion"] == 0) & (frame["holiday"] == 0)]
    coffee = ordinary[ordinary["series"] == "store_1/coffee"].groupby("hour")["sales"].mean()
    snacks = ordinary[ordinary["series"] == "store_1/snacks"].groupby("hour")["sales"].mean()
    # Night is nearly empty; coffee peaks in the morning, snacks in the evening.
    assert coffee[2] < 1 and coffee[8] > 10 * max(coffee[2], 0.1)
    assert coffee.idxmax() in (7, 8, 9) and snacks.idxmax() in (17, 18, 19)
    by_day = ordinary.groupby("weekday")["sales"].mean()
    assert by_day[5] > by_day[2] > by_day[6]  # Saturday busiest, Sunday quietest


def test_promotions_lift_sales_and_holidays_cut_them() -> None:
    frame = _sales()
    daily = (
        frame.assign(day=frame["timestamp"].dt.floor("D"))
        .groupby(["series", "day"])
        .agg(sales=("sales", "sum"), promotion=("promotion", "max"), holiday=("holiday", "max"))
    )
    promoted = daily[daily["promotion"] == 1]
    assert 0.05 < daily["promotion"].mean() < 0.25
    assert promoted["sales"].mean() > 1.2 * daily[daily["promotion"] == 0]["sales"].mean()
    # 1 January 2024 is a public holiday: about a third of a Monday's sales.
    holiday = daily[daily["holiday"] == 1].reset_index()
    assert set(holiday["day"]) == {pd.Timestamp("2024-01-01")}
    plain_mondays = daily.reset_index()
    plain_mondays = plain_mondays[
        (plain_mondays["day"].dt.weekday == 0)
        & (plain_mondays["holiday"] == 0)
        & (plain_mondays["promotion"] == 0)
    ]
    ratio = holiday["sales"].sum() / plain_mondays.groupby("series")["sales"].mean().sum()
    assert HOLIDAY_EFFECT * 0.6 < ratio < HOLIDAY_EFFECT * 1.6


def test_sales_grow_or_shrink_along_a_trend() -> None:
    frame = simulate("sales", rows=24 * 7 * 26 * SERIES_COUNT, seed=5)
    plain = frame[frame["promotion"] == 0]
    weekly = plain.groupby(["series", plain["timestamp"].dt.isocalendar().week])["sales"].mean()
    slopes = [
        np.polyfit(np.arange(len(values)), values.to_numpy(dtype=float), 1)[0]
        for _, values in weekly.groupby(level=0)
    ]
    assert any(abs(s) > 0.005 for s in slopes)  # not flat: a trend to forecast


def test_sales_start_when_asked() -> None:
    frame = simulate("sales", rows=96, seed=0, start=datetime(2025, 12, 24))
    assert frame["timestamp"].min() == pd.Timestamp("2025-12-24")
    christmas = frame[frame["timestamp"].dt.day == 25]
    assert (christmas["holiday"] == 1).all()


def test_simulate_refuses_an_unknown_kind_naming_sales_too() -> None:
    with pytest.raises(UsageError, match="sales"):
        simulate("salez", rows=10)


def test_the_cli_writes_sales_and_says_how_many_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sales.csv"
    _vigil("simulate", "sales", "--rows", "960", "--out", str(out), "--seed", "2", "--json")
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "kind": "sales",
        "rows": 960,
        "series": 4,
        "columns": ["timestamp", "series", "sales", "promotion", "holiday"],
        "out": str(out),
    }
    assert pd.read_csv(out).shape == (960, 5)
    _vigil("simulate", "sales", "--rows", "960", "--out", str(out))
    assert capsys.readouterr().out.strip() == f"Wrote 960 sales rows (4 series) to {out}."


def _vigil(*args: str) -> None:
    """Runs ``vigil ARGS`` in-process and checks it exited with 0."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code in (0, None)
