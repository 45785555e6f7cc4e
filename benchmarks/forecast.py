"""Benchmarks Vigil's forecasters against statsforecast's models on M4 hourly.

M4 hourly (../shared/data/forecast/, wide CSV: V1 the id, V2.. the values):
414 series, horizon 48. Every Vigil algorithm is trained with
``fit_forecaster`` (3 backtest windows of 48 inside the training part) and
forecasts the 48 test hours; statsforecast's own models are called directly
in the same run on the same data. Scores are M4's: MASE with the in-sample
seasonal naive scale (season 24), sMAPE, and the coverage of the 80% and 95%
intervals; wall time covers fitting (and for Vigil the backtest) and the
forecast, with ``--jobs`` processes. The table is printed and written to
benchmarks/results/forecast.json (forecast_quick.json with --quick).

``--design`` never touches the test part: it holds out the last 48 training
hours of each series and scores candidate members and combinations of
``auto`` there (the choice of ``auto``'s defaults was made on this).

    nice -n 10 .venv/bin/python benchmarks/forecast.py --quick
    nice -n 10 .venv/bin/python benchmarks/forecast.py --models auto,seasonal_naive
    nice -n 10 .venv/bin/python benchmarks/forecast.py --design --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vigil.forecast import fit_forecaster, prepare_series
from vigil.forecast.metrics import coverage, mase, mase_scale, smape

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "forecast"
RESULTS = Path(__file__).parent / "results"
HORIZON = 48
SEASON = 24
LEVELS = (80, 95)
PUBLISHED = {"statsforecast AutoARIMA (published)": 0.92}
VIGIL = ("auto", "seasonal_naive", "mstl", "auto_theta", "auto_ets", "auto_arima")
REFERENCE = ("SeasonalNaive", "MSTL", "AutoTheta", "AutoETS", "AutoARIMA")
QUICK_SERIES = 40
# Member pools --design compares (each with both combine rules).
DESIGN_POOLS = ("mstl,auto_theta,seasonal_naive", "mstl,seasonal_naive")

Forecasts = dict[str, dict[str, np.ndarray]]


def load(split: str, count: int | None, half: str | None = None) -> dict[str, np.ndarray]:
    """Returns M4 hourly ``split`` (train or test) as id -> values, ``count`` spread series.

    ``half`` ("first" or "second") keeps that half of the series in file order
    (H1-H207, H208-H414): choices made on one half are reported on the other.
    """
    wide = pd.read_csv(DATA / f"m4_hourly_{split}.csv")
    if half is not None:
        middle = (len(wide) + 1) // 2
        wide = wide.iloc[:middle] if half == "first" else wide.iloc[middle:]
    if count:
        # Evenly spread: both lengths (700 and 960 hours) and all kinds stay in.
        wide = wide.iloc[:: max(1, len(wide) // count)].head(count)
    return {str(row[0]): np.asarray(row[1:], dtype=float) for row in wide.itertuples(index=False)}


def clean(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def long_frame(series: dict[str, np.ndarray]) -> pd.DataFrame:
    """Returns the series in long format with hourly timestamps (M4 gives none)."""
    frames = [
        pd.DataFrame(
            {
                "series": name,
                "timestamp": pd.date_range("2000-01-01", periods=len(clean(y)), freq="h"),
                "value": clean(y),
            }
        )
        for name, y in series.items()
    ]
    return pd.concat(frames, ignore_index=True)


def score(
    train: dict[str, np.ndarray], test: dict[str, np.ndarray], fc: Forecasts
) -> dict[str, float]:
    """Returns M4's MASE and sMAPE (means over series) and pooled interval coverage."""
    mases, smapes = [], []
    inside = dict.fromkeys(LEVELS, 0)
    total = 0
    for name, y in test.items():
        actual = clean(y)[:HORIZON]
        f = fc[name]
        mases.append(mase(actual, f["mean"], mase_scale(clean(train[name]), SEASON)))
        smapes.append(smape(actual, f["mean"]))
        for level in LEVELS:
            lo, hi = f.get(f"lo_{level}"), f.get(f"hi_{level}")
            if lo is not None and hi is not None:
                inside[level] += round(coverage(actual, lo, hi) * actual.size)
        total += actual.size
    out = {"mase": float(np.mean(mases)), "smape": float(np.mean(smapes))}
    for level in LEVELS:
        out[f"coverage_{level}"] = inside[level] / total
    return out


def _process_cpu() -> dict[int, float]:
    """Returns the CPU seconds (user + system) of this process's descendants, by pid (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name (field 2) is in parentheses and may hold spaces.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while being read
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    mine = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in mine} - mine
        grew = bool(found)
        mine |= found
    return {pid: cpu[pid] for pid in mine if pid != os.getpid()}


class CpuClock:
    """CPU seconds this process and its worker processes spend from start to ``seconds()``.

    Workers that outlive a run (joblib keeps them for the next) are read while
    alive; ended children are counted through ``getrusage``. On 2 cores and an
    idle machine, the wall time is about CPU / 2: a figure the machine's load
    does not inflate.
    """

    def __init__(self) -> None:
        import resource

        self._resource = resource
        self._self = time.process_time()
        self._ended = self._ended_children()
        self._alive = _process_cpu()

    def _ended_children(self) -> float:
        usage = self._resource.getrusage(self._resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def seconds(self) -> float:
        alive = _process_cpu()
        workers = sum(cpu - self._alive.get(pid, 0.0) for pid, cpu in alive.items())
        ended = self._ended_children() - self._ended
        return time.process_time() - self._self + workers + ended


def run_vigil(
    algorithm: str, train: dict[str, np.ndarray], jobs: int, params: dict[str, Any] | None = None
) -> tuple[float, Forecasts, Any]:
    started = time.perf_counter()
    data = prepare_series(long_frame(train), timestamp="timestamp", target="value", series="series")
    fitted = fit_forecaster(
        data, algorithm=algorithm, params=params, horizon=HORIZON, cv=3, levels=LEVELS, n_jobs=jobs
    )
    out = fitted.predict(HORIZON, levels=LEVELS)
    seconds = time.perf_counter() - started
    fc = {
        str(name): {
            col: group[col].to_numpy()
            for col in group.columns
            if col not in ("series", "timestamp")
        }
        for name, group in out.groupby("series", sort=False)
    }
    for f in fc.values():
        f["mean"] = f.pop("forecast")
    return seconds, fc, fitted


def reference_model(name: str) -> Any:
    from statsforecast import models

    return {
        "SeasonalNaive": lambda: models.SeasonalNaive(season_length=SEASON),
        "MSTL": lambda: models.MSTL(season_length=[24, 168]),
        "AutoTheta": lambda: models.AutoTheta(season_length=SEASON),
        "AutoETS": lambda: models.AutoETS(season_length=SEASON),
        "AutoARIMA": lambda: models.AutoARIMA(season_length=SEASON),
    }[name]()


def run_reference(name: str, train: dict[str, np.ndarray], jobs: int) -> tuple[float, Forecasts]:
    """Returns statsforecast's own forecasts of ``name`` (its StatsForecast class, n_jobs)."""
    from statsforecast import StatsForecast

    frame = long_frame(train).rename(
        columns={"series": "unique_id", "timestamp": "ds", "value": "y"}
    )
    started = time.perf_counter()
    sf = StatsForecast(models=[reference_model(name)], freq="h", n_jobs=jobs)
    out = sf.forecast(df=frame, h=HORIZON, level=list(LEVELS))
    seconds = time.perf_counter() - started
    fc = {}
    for uid, group in out.groupby("unique_id", sort=False):
        fc[str(uid)] = {
            "mean": group[name].to_numpy(),
            **{f"lo_{lv}": group[f"{name}-lo-{lv}"].to_numpy() for lv in LEVELS},
            **{f"hi_{lv}": group[f"{name}-hi-{lv}"].to_numpy() for lv in LEVELS},
        }
    return seconds, fc


def design(train: dict[str, np.ndarray], jobs: int) -> list[dict[str, Any]]:
    """Scores auto's candidate designs on the last 48 training hours (the test part unused)."""
    inner = {name: clean(y)[:-HORIZON] for name, y in train.items()}
    held = {name: clean(y)[-HORIZON:] for name, y in train.items()}
    candidates: list[tuple[str, str, dict[str, Any]]] = [
        (m, m, {"intervals": "native"}) for m in ("seasonal_naive", "mstl", "auto_theta")
    ]
    for pool in DESIGN_POOLS:
        for rule in ("select", "weighted"):
            params = {"members": pool, "combine": rule, "intervals": "conformal"}
            candidates.append((f"auto[{pool}; {rule}]", "auto", params))
    rows = []
    for label, algorithm, params in candidates:
        clock = CpuClock()
        seconds, fc, _ = run_vigil(algorithm, inner, jobs, params)
        rows.append(
            {
                "design": label,
                "seconds": seconds,
                "cpu_seconds": clock.seconds(),
                **score(inner, held, fc),
            }
        )
        print(_line(label, rows[-1]), flush=True)
    return rows


def _line(name: str, row: dict[str, Any]) -> str:
    return (
        f"{name:55s} {row['mase']:7.3f} {row['smape']:7.2f} {100 * row['coverage_80']:6.1f} "
        f"{100 * row['coverage_95']:6.1f} {row['seconds']:8.1f} {row['cpu_seconds']:8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SERIES} of the 414 series")
    parser.add_argument("--series", type=int, default=None, help="this many series (spread)")
    parser.add_argument("--models", default=",".join(VIGIL), help="Vigil algorithms to run")
    parser.add_argument(
        "--reference", default=",".join(REFERENCE), help="statsforecast models to run"
    )
    parser.add_argument(
        "--half", choices=("first", "second"), default=None, help="that half of the series"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", default=None, help="results file name under benchmarks/results")
    parser.add_argument(
        "--design", action="store_true", help="score auto's designs on training data only"
    )
    args = parser.parse_args()

    count = args.series or (QUICK_SERIES if args.quick else None)
    train, test = load("train", count, args.half), load("test", count, args.half)
    header = (
        f"{'model':55s} {'MASE':>7s} {'sMAPE':>7s} {'cov80':>6s} {'cov95':>6s} "
        f"{'seconds':>8s} {'cpu s':>8s}"
    )
    print(
        f"M4 hourly, {len(train)} series, horizon {HORIZON}, {args.jobs} jobs, "
        f"load {os.getloadavg()}"
    )
    print(header)
    result: dict[str, Any] = {
        "dataset": "M4 hourly",
        "series": len(train),
        "horizon": HORIZON,
        "half": args.half,
        "jobs": args.jobs,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
    }
    if args.design:
        name = "forecast_design_quick.json" if args.quick else "forecast_design.json"
    else:
        name = "forecast_quick.json" if args.quick else "forecast.json"
    if args.half:
        name = name.replace(".json", f"_{args.half}_half.json")
    path = RESULTS / (args.out or name)
    RESULTS.mkdir(exist_ok=True)
    if args.design:
        result["design"] = design(train, args.jobs)
    else:
        rows: list[dict[str, Any]] = []
        runs: list[tuple[str, Callable[[], tuple[float, Forecasts]]]] = []
        for algorithm in filter(None, args.models.split(",")):
            runs.append(
                (f"vigil {algorithm}", lambda a=algorithm: run_vigil(a, train, args.jobs)[:2])
            )
        for model in filter(None, args.reference.split(",")):
            runs.append(
                (f"statsforecast {model}", lambda m=model: run_reference(m, train, args.jobs))
            )
        for label, run in runs:
            clock = CpuClock()
            seconds, fc = run()
            cpu = clock.seconds()
            row = {"model": label, "seconds": seconds, "cpu_seconds": cpu, **score(train, test, fc)}
            rows.append(row)
            print(_line(label, row), flush=True)
            # Written after every model: a long run keeps what it has measured so far.
            result["rows"] = rows
            result["load_after"] = os.getloadavg()
            path.write_text(json.dumps(result, indent=2) + "\n")
        for label, value in PUBLISHED.items():
            print(f"{label:55s} {value:7.3f}")
        result["published"] = PUBLISHED
        result.update(_targets(rows))
    result["load_after"] = os.getloadavg()
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def _targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {row["model"]: row for row in rows}
    auto = by.get("vigil auto")
    singles = [row for name, row in by.items() if name.startswith("statsforecast")]
    if auto is None or not singles:
        return {}
    best = min(singles, key=lambda row: row["mase"])
    out = {
        "best_statsforecast": best["model"],
        "auto_vs_best": auto["mase"] / best["mase"] - 1.0,
        "target_5pct_below_best": auto["mase"] <= 0.95 * best["mase"],
        "target_below_0.92": auto["mase"] < 0.92,
        "target_coverage_within_5": all(
            abs(100 * auto[f"coverage_{lv}"] - lv) <= 5 for lv in LEVELS
        ),
    }
    print(
        f"auto vs best statsforecast ({best['model']}): {100 * out['auto_vs_best']:+.1f}% MASE; "
        f"5% below: {out['target_5pct_below_best']}; below 0.92: {out['target_below_0.92']}"
    )
    return out


if __name__ == "__main__":
    main()
