"""Labelled synthetic data for demos, tests and benchmarks (``vigil simulate``).

:func:`simulate` generates one of six kinds of data, each a pandas DataFrame
whose ``is_anomaly`` column (0/1) says which rows are anomalous and whose
``anomaly_type`` column says how (``""`` on normal rows):

- ``logs``: application log events with incidents (latency spikes, error
  bursts, unseen message templates, traffic drops);
- ``metrics``: five infrastructure metrics every five minutes, in long format,
  with faults (spikes, level shifts, drops to zero, variance changes);
- ``requests``: HTTP requests to a web shop with attacks (SQL injection, XSS,
  path traversal, command injection, credential stuffing);
- ``transactions``: card transactions with fraud (card testing, unusual
  amounts, foreign bursts, night-time spending);
- ``users``: per-user behaviour with true segments and anomalous users
  (bots, resellers);
- ``access``: nginx access log lines (combined format plus request time)
  with 5xx bursts and latency spikes, in a ``line`` column; written to a
  ``.log`` file they are raw lines with the labels in ``NAME.labels.csv``
  beside them (:mod:`vigil.simulate.access`).

``sales`` (:data:`SERIES_KINDS`) is data to forecast, not to flag: hourly
units sold per store and product with daily and weekly cycles, a trend,
promotions and holidays, and no label columns (:mod:`vigil.simulate.sales`).

:data:`LABEL_COLUMNS` names, per kind, the columns that say what a row truly
is (``is_anomaly``, ``anomaly_type``, and the users' ``segment``); the
trainer leaves them out of the features unless they are the target or are
named as features (:mod:`vigil.simulate.labels`).

Every generator is deterministic for a seed: the same arguments give the same
frame, and :func:`write_frame` turns it into the same bytes. Anomalies arrive
as incidents spanning several consecutive events, and their share of the rows
matches ``anomaly_rate`` (exactly for the event streams and users, to within
rounding per series for metrics). See each module for what is simulated and
why it resembles real data.
"""

from __future__ import annotations

import importlib
import numbers
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.errors import UsageError
from vigil.simulate.labels import ALL_LABEL_COLUMNS, LABEL_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ALL_LABEL_COLUMNS",
    "KINDS",
    "LABEL_COLUMNS",
    "MAX_ANOMALY_RATE",
    "SERIES_KINDS",
    "simulate",
    "write_frame",
]

# Each kind's generator is vigil.simulate.<kind>.simulate_<kind>, imported when first
# asked for: the trainer reads LABEL_COLUMNS without loading every generator.
KINDS = ("logs", "metrics", "requests", "transactions", "users", "access")
# Unlabelled series to forecast (``anomaly_rate`` does not apply to them).
SERIES_KINDS = ("sales",)
# Suffixes written as raw log lines (only kinds with a ``line`` column can be).
RAW_LOG_SUFFIXES = (".log", ".txt")
MAX_ANOMALY_RATE = 0.5


def simulate(
    kind: str,
    rows: int,
    anomaly_rate: float = 0.05,
    seed: int = 0,
    start: datetime | None = None,
) -> pd.DataFrame:
    """Returns ``rows`` rows of labelled synthetic ``kind`` data, deterministic for ``seed``.

    ``anomaly_rate`` (0 to 0.5) is the share of rows inside incidents;
    ``start`` is when time-stamped kinds begin (naive UTC; aware datetimes are
    converted; default 2024-01-01 00:00, a Monday) and is ignored by ``users``.
    Raises :class:`~vigil.errors.UsageError` naming the parameter that is
    out of range.

    Example:
        >>> frame = simulate("metrics", rows=1000, anomaly_rate=0.05, seed=7)
        >>> len(frame), float(frame["is_anomaly"].mean())
        (1000, 0.05)
        >>> list(frame.columns)
        ['timestamp', 'series', 'value', 'is_anomaly', 'anomaly_type']
        >>> simulate("metrics", rows=1000, seed=7).equals(frame)
        True
    """
    if kind not in KINDS and kind not in SERIES_KINDS:
        raise UsageError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS + SERIES_KINDS)}.")
    if isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < 1:
        raise UsageError(f"rows must be a whole number of at least 1, not {rows!r}.")
    if not isinstance(anomaly_rate, numbers.Real) or not 0.0 <= anomaly_rate <= MAX_ANOMALY_RATE:
        raise UsageError(
            f"anomaly_rate must be between 0 and {MAX_ANOMALY_RATE}, not {anomaly_rate!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise UsageError(f"seed must be a whole number of at least 0, not {seed!r}.")
    if start is not None and not isinstance(start, datetime):
        raise UsageError(f"start must be a datetime, not {start!r}.")
    generate = getattr(importlib.import_module(f"vigil.simulate.{kind}"), f"simulate_{kind}")
    if kind in SERIES_KINDS:  # no anomalies to place
        frame: pd.DataFrame = generate(int(rows), int(seed), start)
    elif kind == "users":  # users have no timeline
        frame = generate(int(rows), float(anomaly_rate), int(seed))
    else:
        frame = generate(int(rows), float(anomaly_rate), int(seed), start)
    return frame


def write_frame(frame: pd.DataFrame, path: Path) -> Path | None:
    """Writes ``frame`` to ``path`` as CSV, JSON Lines (.jsonl/.json), Parquet or a raw log.

    Timestamps are written as ISO 8601 text in CSV and JSON Lines. A frame of
    raw lines (``access``) written to ``.log`` / ``.txt`` becomes the lines
    alone, with the labels in ``NAME.labels.csv`` beside it; the labels path
    is returned then (None otherwise). The file appears whole or not at all.
    Raises :class:`~vigil.errors.InvalidInput` naming the suffix and the
    allowed ones when the suffix is unknown.
    """
    from vigil.data.writing import write_table  # Arrow loads on the first write only

    if Path(path).suffix.lower() in RAW_LOG_SUFFIXES and "line" in frame.columns:
        from vigil.simulate.access import write_access_log

        return write_access_log(frame, Path(path))
    write_table(frame, path)
    return None
