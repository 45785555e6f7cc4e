"""Infrastructure metric streams with labelled faults, in long format.

What is simulated: five metrics of one service sampled every five minutes,
the way CloudWatch or Prometheus scrapes them: ``cpu_utilization`` (%),
``memory_utilization`` (%), ``request_count`` (requests per interval),
``latency_p99`` (ms) and ``network_in_bytes`` (bytes per interval).

Why it resembles real metrics (compare the NAB ``realAWSCloudwatch`` series):

- One load curve drives them all, with a daily cycle and quieter weekends, so
  CPU, requests, latency and network rise and fall together as they do on a
  real server.
- Each has its own shape of noise: autocorrelated (AR(1)) noise for CPU and
  memory, Poisson counts for requests, multiplicative lognormal noise for
  latency and network volume, and a slow upward trend.
- Memory follows a sawtooth: it creeps up between restarts every few days.

Faults, labelled ``is_anomaly = 1`` with their ``anomaly_type``, cover runs of
consecutive points of one series:

- ``spike``: one to three points far above the usual range;
- ``level_shift``: the series moves up or down by several noise widths for
  one to twelve hours, then returns;
- ``drop_to_zero``: the series reads zero (a dead agent or a stopped service);
- ``variance_change``: the level stays but the noise becomes several times wider.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from vigil.simulate.labels import ANOMALY_TYPE, IS_ANOMALY
from vigil.simulate.logs import (
    as_naive_utc,
    labels,
    ordered_frame,
    place_runs,
    plan_incidents,
    run_positions,
    traffic_profile,
)

SERIES = (
    "cpu_utilization",
    "memory_utilization",
    "request_count",
    "latency_p99",
    "network_in_bytes",
)
INTERVAL = timedelta(minutes=5)
FAULT_TYPES = ("spike", "level_shift", "drop_to_zero", "variance_change")
FAULT_LENGTHS = {
    "spike": (1, 3),
    "level_shift": (12, 144),
    "drop_to_zero": (3, 36),
    "variance_change": (24, 144),
}
MULTIPLICATIVE = ("latency_p99", "network_in_bytes")  # noise scales with the level
BOUNDS = {
    "cpu_utilization": (0.0, 100.0),
    "memory_utilization": (0.0, 100.0),
    "request_count": (0.0, np.inf),
    "latency_p99": (0.0, np.inf),
    "network_in_bytes": (0.0, np.inf),
}


def _autocorrelated(rng: np.random.Generator, points: int, sigma: float, phi: float) -> np.ndarray:
    """Returns AR(1) noise with coefficient ``phi`` and innovations of width ``sigma``."""
    return np.asarray(lfilter([1.0], [1.0, -phi], rng.normal(0.0, sigma, points)))


def _series_values(
    rng: np.random.Generator, name: str, load: np.ndarray, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (baseline, observed values) of series ``name`` for the given load and hours."""
    weeks = hours / (24.0 * 7.0)
    points = len(load)
    if name == "cpu_utilization":
        baseline = 12.0 + 30.0 * load + 0.8 * weeks
        return baseline, baseline + _autocorrelated(rng, points, 2.5, 0.6)
    if name == "memory_utilization":
        restart_every = rng.uniform(60.0, 100.0)  # hours between deployments that reset memory
        baseline = 45.0 + 4.0 * load + 0.12 * (hours % restart_every)
        return baseline, baseline + _autocorrelated(rng, points, 0.6, 0.8)
    if name == "request_count":
        baseline = 150.0 * load * (1.0 + 0.02 * weeks)
        return baseline, rng.poisson(baseline).astype(np.float64)
    if name == "latency_p99":
        baseline = 120.0 + 60.0 * load**2
        return baseline, baseline * rng.lognormal(0.0, 0.12, points)
    baseline = 2.0e6 * load
    return baseline, baseline * rng.lognormal(0.0, 0.25, points)


def _inject_faults(
    rng: np.random.Generator,
    baseline: np.ndarray,
    values: np.ndarray,
    anomaly_rate: float,
    multiplicative: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (values with faults, faulty positions, fault type per position).

    Sizes are in units of the series' own noise width, so a fault is equally
    visible on a percentage and on a byte count. A downward shift never takes
    more than 60% of the level (a fall to zero is its own fault type), and
    noise on a multiplicative series is widened on the log scale so it stays
    positive.
    """
    types, lengths = plan_incidents(rng, round(len(values) * anomaly_rate), FAULT_LENGTHS)
    positions, incident = run_positions(place_runs(rng, len(values), lengths), lengths)
    kind = types[incident]
    noise_width = float(np.std(values - baseline)) or 1.0
    faulty = values.copy()

    spike = positions[kind == FAULT_TYPES.index("spike")]
    faulty[spike] += rng.uniform(10.0, 18.0, len(spike)) * noise_width

    shift = kind == FAULT_TYPES.index("level_shift")
    upward = (rng.random(len(lengths)) < 0.7)[incident[shift]]
    size = (rng.uniform(5.0, 10.0, len(lengths)) * noise_width)[incident[shift]]
    at = positions[shift]
    faulty[at] += np.where(upward, size, -np.minimum(size, 0.6 * baseline[at]))

    faulty[positions[kind == FAULT_TYPES.index("drop_to_zero")]] = 0.0

    wide = kind == FAULT_TYPES.index("variance_change")
    widen = rng.uniform(3.0, 6.0, len(lengths))[incident[wide]]
    at = positions[wide]
    if multiplicative:
        faulty[at] = baseline[at] * (values[at] / baseline[at]) ** widen
    else:
        faulty[at] = baseline[at] + (values[at] - baseline[at]) * widen
    return faulty, positions, kind


def simulate_metrics(
    rows: int, anomaly_rate: float, seed: int, start: datetime | None = None
) -> pd.DataFrame:
    """Returns ``rows`` metric points in long format, about ``anomaly_rate`` of them faulty.

    The series share the rows evenly (the first ones get one point more when
    ``rows`` does not divide), interleaved by timestamp. Columns: timestamp,
    series, value, is_anomaly, anomaly_type.
    """
    rng = np.random.default_rng(seed)
    origin = np.datetime64(as_naive_utc(start), "ms")
    step = np.timedelta64(INTERVAL, "ms")
    per_series = rows // len(SERIES) + (np.arange(len(SERIES)) < rows % len(SERIES))
    longest = int(per_series.max())
    times = origin + np.arange(longest) * step
    load = traffic_profile(times) * rng.lognormal(0.0, 0.05, longest)
    hours = np.arange(longest) * (INTERVAL.total_seconds() / 3600.0)

    timestamp, series, value, is_anomaly, anomaly_type = [], [], [], [], []
    for code, (name, points) in enumerate(zip(SERIES, per_series, strict=True)):
        if points == 0:  # fewer rows than series
            continue
        baseline, observed = _series_values(rng, name, load[:points], hours[:points])
        faulty, positions, kind = _inject_faults(
            rng, baseline, observed, anomaly_rate, name in MULTIPLICATIVE
        )
        low, high = BOUNDS[name]
        faulty = np.clip(faulty, low, high)
        faulty = np.round(faulty) if name in ("request_count", "network_in_bytes") else faulty
        label = labels(int(points), positions, kind, FAULT_TYPES)
        timestamp.append(times[:points])
        series.append(np.full(points, code))
        value.append(np.round(faulty, 3))
        is_anomaly.append(label[IS_ANOMALY])
        anomaly_type.append(label[ANOMALY_TYPE])

    series_code = np.concatenate(series)
    columns = {
        "timestamp": np.concatenate(timestamp),
        "series": np.array(SERIES, dtype=object)[series_code],
        "value": np.concatenate(value),
        IS_ANOMALY: np.concatenate(is_anomaly),
        ANOMALY_TYPE: np.concatenate(anomaly_type),
    }
    order = np.lexsort((series_code, columns["timestamp"]))
    return ordered_frame(columns, order)
