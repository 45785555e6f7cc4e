"""Hourly sales of several stores and products, for forecasting demos and tests.

What is simulated: units sold per hour by each (store, product) pair, in long
format, one row per series and hour: ``timestamp``, ``series``
(``"store_1/coffee"``), ``sales``, and the two known-in-advance drivers
``promotion`` (0/1) and ``holiday`` (0/1).

Why it resembles real retail sales:

- A daily cycle: shops are nearly empty at night, busy at lunch and in the
  early evening; each product has its own hours (coffee sells in the
  morning, snacks in the evening).
- A weekly cycle: Saturdays sell more, Sundays less, and each store has its
  own weekend strength.
- A trend: each series grows or shrinks by a few per cent a month.
- Promotions: runs of two to five days per series (about one day in eight)
  lift sales by 30 to 80%.
- Holidays: fixed public holidays (1 January, 1 May, 4 July, 25 and 26
  December) cut sales to about a third all day, in every store.
- Counts: the observed sales are Poisson draws around that level, so quiet
  hours read 0, 1 or 2 units as they do in real shops.

No anomaly labels: this is data to forecast, not to flag (``LABEL_COLUMNS``
has no entry for it).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from vigil.simulate.logs import as_naive_utc

STORES = ("store_1", "store_2")
PRODUCTS = ("coffee", "snacks")
SERIES_COUNT = len(STORES) * len(PRODUCTS)
# Units per hour at the daily peak, before weekday, trend and promotion effects.
PEAK_UNITS = {"coffee": 40.0, "snacks": 25.0}
# Relative demand at each hour of the day (0..23) per product; the cycle the model should learn.
HOURLY_PROFILE = {
    "coffee": (
        0.02, 0.01, 0.01, 0.01, 0.02, 0.08, 0.35, 0.85, 1.00, 0.80, 0.55, 0.50,
        0.60, 0.55, 0.45, 0.40, 0.40, 0.35, 0.25, 0.15, 0.10, 0.06, 0.04, 0.03,
    ),
    "snacks": (
        0.03, 0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 0.55,
        0.75, 0.60, 0.45, 0.50, 0.65, 0.85, 1.00, 0.90, 0.70, 0.45, 0.20, 0.08,
    ),
}  # fmt: skip
# Monday .. Sunday, scaled per store by its weekend strength.
WEEKDAY_EFFECT = np.array([0.95, 0.95, 1.0, 1.0, 1.1, 1.35, 0.8])
HOLIDAYS = ((1, 1), (5, 1), (7, 4), (12, 25), (12, 26))  # (month, day)
HOLIDAY_EFFECT = 0.35
PROMOTION_SHARE = 1 / 8  # of days
PROMOTION_DAYS = (2, 5)
PROMOTION_LIFT = (1.3, 1.8)


def simulate_sales(rows: int, seed: int, start: datetime | None = None) -> pd.DataFrame:
    """Returns hourly sales of every (store, product) series, deterministic for ``seed``.

    The four series share the ``rows`` evenly: each has ``rows // 4`` hours
    (at least one), starting at ``start`` (naive UTC; default 2024-01-01
    00:00, a Monday), interleaved by timestamp. Columns: timestamp, series,
    sales (integer units), promotion (0/1), holiday (0/1).

    Example:
        >>> frame = simulate_sales(rows=24 * 7 * 4, seed=1)
        >>> len(frame), frame["series"].nunique(), list(frame.columns)
        (672, 4, ['timestamp', 'series', 'sales', 'promotion', 'holiday'])
    """
    rng = np.random.default_rng(seed)
    hours = max(rows // SERIES_COUNT, 1)
    origin = np.datetime64(as_naive_utc(start), "h")
    times = origin + np.arange(hours)
    days = times.astype("datetime64[D]")
    hour_of_day = (times - days).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    holiday = _holidays(days)
    day_index = (days - days[0]).astype(np.int64)
    months = np.arange(hours) / (24.0 * 30.0)

    frames = []
    for store in STORES:
        weekend = rng.uniform(0.6, 1.4)  # how much this store's weekend differs from weekdays
        week = 1.0 + (WEEKDAY_EFFECT - 1.0) * weekend
        size = rng.uniform(0.7, 1.3)
        for product in PRODUCTS:
            growth = rng.uniform(-0.02, 0.06)  # per month
            promotion = _promotion_days(rng, int(day_index[-1]) + 1)[day_index]
            lift = rng.uniform(*PROMOTION_LIFT)
            level = (
                PEAK_UNITS[product]
                * size
                * np.asarray(HOURLY_PROFILE[product])[hour_of_day]
                * week[weekday]
                * np.maximum(1.0 + growth * months, 0.1)
                * np.where(promotion, lift, 1.0)
                * np.where(holiday, HOLIDAY_EFFECT, 1.0)
            )
            frames.append(
                pd.DataFrame(
                    {
                        "timestamp": times.astype("datetime64[ns]"),
                        "series": f"{store}/{product}",
                        "sales": rng.poisson(level).astype(np.int64),
                        "promotion": promotion.astype(np.int64),
                        "holiday": holiday.astype(np.int64),
                    }
                )
            )
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["timestamp", "series"], kind="stable", ignore_index=True)


def _holidays(days: np.ndarray) -> np.ndarray:
    """Returns whether each ``datetime64[D]`` day is one of the fixed public holidays."""
    index = pd.DatetimeIndex(days)
    found = np.zeros(len(days), dtype=bool)
    for month, day in HOLIDAYS:
        found |= (index.month == month) & (index.day == day)
    return found


def _promotion_days(rng: np.random.Generator, days: int) -> np.ndarray:
    """Returns a 0/1 flag per day: runs of 2-5 promoted days covering about 1 day in 8."""
    flags = np.zeros(days, dtype=bool)
    wanted = round(days * PROMOTION_SHARE)
    attempts = 0
    while flags.sum() < wanted and attempts < 10 * days:
        attempts += 1
        length = int(rng.integers(PROMOTION_DAYS[0], PROMOTION_DAYS[1] + 1))
        first = int(rng.integers(0, max(days - length, 0) + 1))
        flags[first : first + length] = True
    return flags
