"""Benchmarks streams: streamed scores against batch scores, and events per second into one server.

Equality: a model is trained in process (``--features metrics`` on the
first 15% of each NAB realAWSCloudwatch series, ``logs`` / ``requests`` on
simulated events, ``logs`` sessions by block id on HDFS ``train.log``),
then each test series is pushed to a real ``vigil serve`` over HTTP in
random pieces of 1 to 500 events (``POST /v1/models/{name}/events``,
``?return=all``, sessions flushed at the end) and compared with the batch
answer of the same file (``vigil predict``'s path, the bundle scoring the
whole file): the maximum absolute difference of the scores, and how many
answers flag differently.

Throughput: events per second in batches of 1,000 and the latency of single
events sent one request at a time (p50 / p99), on a logs model and a
metrics model, with the stream state in SQLite and in Redis; memory per
stream is the size of the kept state. The first batch of each model (which
loads the version and compiles its scoring) is sent before the clock starts.

    nice -n 10 .venv/bin/python benchmarks/streams.py [--quick] [--out FILE]

Writes a table and ``benchmarks/results/streams.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

from vigil.config import Settings
from vigil.data.loading import Dataset
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate import simulate
from vigil.streams.events import events_of
from vigil.training.trainer import TrainSpec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NAB = DATA / "metrics" / "nab" / "realAWSCloudwatch"
HDFS = DATA / "logs" / "hdfs_sessions"
ADMIN = Caller(tenant="default", actor="bench", role="admin")
KEY = "bench-admin-key"
LABELS = ["is_anomaly", "anomaly_type"]


def _events(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Returns the rows as a client sends them, the label columns left out."""
    return events_of(frame, LABELS)


def _train(
    service: VigilService, name: str, frame: pd.DataFrame, kind: str, **options: Any
) -> None:
    spec = TrainSpec(
        task="anomaly",
        target="is_anomaly" if "is_anomaly" in frame.columns else None,
        exclude=tuple(c for c in ("anomaly_type",) if c in frame.columns),
        feature_kind=kind,
        feature_options=options,
    )
    service.training.train(ADMIN, name, Dataset(frame, "0" * 64, "bench", name), spec)


@contextmanager
def _server(home: Path, state_url: str | None) -> Iterator[str]:
    port = 18000 + random.randint(0, 999)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_HOME=str(home), VIGIL_ADMIN_KEY=KEY, VIGIL_SCHEDULER="0", VIGIL_LOG_LEVEL="WARNING"
    )
    if state_url:
        env["VIGIL_STATE_URL"] = state_url
    command = [sys.executable, "-m", "vigil.cli.main", "serve", "--port", str(port)]
    with (home / "server.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    except Exception:
        print((home / "server.log").read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        process.terminate()
        process.wait(60)


def _push(
    http: httpx.Client, url: str, name: str, events: list[Any], flush: bool = False
) -> dict[str, Any]:
    response = http.post(
        f"{url}/v1/models/{name}/events?return=all",
        content=orjson.dumps({"events": events, "flush": flush}),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def _stream(
    http: httpx.Client, url: str, name: str, events: list[Any], seed: int, flush: bool
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    answers: list[dict[str, Any]] = []
    start = 0
    while start < len(events):
        size = rng.randint(1, 500)
        answers += _push(http, url, name, events[start : start + size])["predictions"]
        start += size
    if flush:
        answers += _push(http, url, name, [], flush=True)["predictions"]
    return answers


def _compare(
    streamed: list[dict[str, Any]], batch: list[dict[str, Any]], key: str | None
) -> dict[str, Any]:
    if key is None:
        a = np.array([p["score"] for p in streamed])
        b = np.array([p["score"] for p in batch])
        flags = sum(
            x["is_anomaly"] != y["is_anomaly"] for x, y in zip(streamed, batch, strict=True)
        )
    else:
        by_key = {p[key]: p for p in streamed}
        a = np.array([by_key[p[key]]["score"] for p in batch])
        b = np.array([p["score"] for p in batch])
        flags = sum(by_key[p[key]]["is_anomaly"] != p["is_anomaly"] for p in batch)
    return {
        "answers": len(batch),
        "streamed_answers": len(streamed),
        "max_abs_difference": float(np.max(np.abs(a - b))) if len(a) else 0.0,
        "flag_differences": int(flags),
    }


def operator_view(http: httpx.Client, url: str, name: str, csv_name: str) -> dict[str, Any]:
    """Returns how a NAB series' incidents meet its labelled anomaly windows."""
    windows = json.loads((NAB.parent / "combined_windows.json").read_text())
    spans = [
        (pd.Timestamp(a), pd.Timestamp(b))
        for a, b in windows.get(f"realAWSCloudwatch/{csv_name}", [])
    ]
    listed = http.get(
        f"{url}/v1/models/{name}/incidents?limit=1000",
        headers={"Authorization": f"Bearer {KEY}"},
    ).json()["incidents"]
    found = [
        (
            pd.Timestamp(i["started_at"]).tz_localize(None),
            pd.Timestamp(i["ended_at"]).tz_localize(None),
        )
        for i in listed
    ]

    def overlaps(
        a: tuple[pd.Timestamp, pd.Timestamp], b: tuple[pd.Timestamp, pd.Timestamp]
    ) -> bool:
        return a[0] <= b[1] and b[0] <= a[1]

    return {
        "windows": len(spans),
        "windows_with_incident": sum(any(overlaps(w, i) for i in found) for w in spans),
        "incidents": len(found),
        "incidents_outside_windows": sum(not any(overlaps(i, w) for w in spans) for i in found),
    }


def equality(
    service: VigilService, url: str, quick: bool, only_nab: bool = False
) -> list[dict[str, Any]]:
    """Returns one row per stream: batch answers against streamed answers."""
    http = httpx.Client(timeout=600)
    cases: list[tuple[str, pd.DataFrame, str | None, bool]] = []
    series = sorted(NAB.glob("*.csv"))[: 3 if quick else None]
    csv_names: dict[str, str] = {}
    for path in series:
        frame = pd.read_csv(path)
        name = "nab-" + path.stem.replace("_", "-")
        csv_names[name] = path.name
        probation = min(int(len(frame) * 0.15), 750)
        _train(service, name, frame.iloc[:probation], "metrics")
        cases.append((name, frame, None, False))
    if only_nab:
        return _equal_rows(service, http, url, cases, csv_names)
    logs_test = simulate("logs", 2000 if quick else 10_000, anomaly_rate=0.03, seed=12)
    _train(service, "sim-logs", simulate("logs", 5000, anomaly_rate=0.03, seed=11), "logs")
    cases.append(("sim-logs", logs_test, None, False))
    requests_test = simulate("requests", 1000 if quick else 5000, anomaly_rate=0.05, seed=14)
    _train(
        service, "sim-requests", simulate("requests", 3000, anomaly_rate=0.05, seed=13), "requests"
    )
    cases.append(("sim-requests", requests_test, None, False))
    if (HDFS / "test.log").exists():
        train_lines = (HDFS / "train.log").read_text().splitlines()[:20_000]
        test_lines = (HDFS / "test.log").read_text().splitlines()
        if quick:
            test_lines = test_lines[:5000]
        options = {"log_format": "hdfs", "session_key": r"blk_-?\d+"}
        _train(service, "hdfs", pd.DataFrame({"line": train_lines}), "logs", **options)
        cases.append(("hdfs", pd.DataFrame({"line": test_lines}), "session", True))
    return _equal_rows(service, http, url, cases, csv_names)


def _equal_rows(
    service: VigilService,
    http: httpx.Client,
    url: str,
    cases: list[tuple[str, pd.DataFrame, str | None, bool]],
    csv_names: dict[str, str],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, (name, frame, key, flush) in enumerate(cases):
        events = _events(frame)
        plain = frame.drop(columns=[c for c in LABELS if c in frame.columns])
        batch = service.predictions.predict(ADMIN, name, plain).predictions
        started = time.perf_counter()
        streamed = _stream(http, url, name, events, seed=index, flush=flush)
        seconds = time.perf_counter() - started
        row = {"stream": name, **_compare(streamed, batch, key), "seconds": round(seconds, 2)}
        if name in csv_names:
            row["operator_view"] = operator_view(http, url, name, csv_names[name])
        rows.append(row)
        print(f"  {name}: {row}", flush=True)
    return rows


def throughput(url: str, backend: str, names: dict[str, str], quick: bool) -> list[dict[str, Any]]:
    """Returns events/s in batches of 1,000 and single-event latencies, per model."""
    http = httpx.Client(timeout=600)
    rows = []
    size = 5000 if quick else 20_000
    for kind, name in names.items():
        events = _events(simulate(kind, size, anomaly_rate=0.03, seed=21))
        batches = [events[i : i + 1000] for i in range(0, len(events) - 1000, 1000)]
        # The first batch of a version loads it and compiles its scoring (once per process):
        # sent before the clock starts, so the rate is the steady one.
        _push(http, url, name, batches[0])
        started = time.perf_counter()
        for chunk in batches[1:]:
            _push(http, url, name, chunk)
        rate = sum(len(b) for b in batches[1:]) / (time.perf_counter() - started)
        singles = events[len(batches) * 1000 :][: 100 if quick else 300]
        latencies = []
        for event in singles:
            t0 = time.perf_counter()
            _push(http, url, name, [event])
            latencies.append((time.perf_counter() - t0) * 1000)
        row = {
            "backend": backend,
            "model": kind,
            "events_per_second_batches_1000": round(rate),
            "single_p50_ms": round(statistics.median(latencies), 2),
            "single_p99_ms": round(float(np.percentile(latencies, 99)), 2),
        }
        rows.append(row)
        print(f"  {row}", flush=True)
    return rows


def state_sizes(service: VigilService) -> dict[str, int]:
    """Returns the bytes of each model's kept stream state (SQLite store)."""
    from sqlalchemy import select

    from vigil.registry.tables import StreamStateRow

    with service.store.engine.connect() as connection:
        return {row.model: len(row.payload) for row in connection.execute(select(StreamStateRow))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer series and events")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "streams.json"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--only-nab", action="store_true", help="only NAB's equality and incidents (no throughput)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-streams-") as tmp:
        home = Path(tmp)
        env = {"VIGIL_HOME": str(home)}
        service = VigilService.from_settings(Settings.from_env(env))
        run = f"{os.getpid()}-{int(time.time())}"
        sqlite_names = {"logs": f"tp-logs-{run}", "metrics": f"tp-metrics-{run}"}
        redis_names = {"logs": f"tp-logs-r{run}", "metrics": f"tp-metrics-r{run}"}
        for names in (sqlite_names, redis_names):
            _train(
                service, names["logs"], simulate("logs", 5000, anomaly_rate=0.03, seed=11), "logs"
            )
            _train(
                service,
                names["metrics"],
                simulate("metrics", 3000, anomaly_rate=0.03, seed=23),
                "metrics",
            )
        print("equality (SQLite state):", flush=True)
        with _server(home, None) as url:
            equal = equality(service, url, args.quick, args.only_nab)
            if args.only_nab:
                _report(args.out, {"equality": equal})
                return
            print("throughput (SQLite state):", flush=True)
            speed = throughput(url, "sqlite", sqlite_names, args.quick)
        sizes = state_sizes(service)
        with _server(home, args.redis) as url:
            print("throughput (Redis state):", flush=True)
            speed += throughput(url, "redis", redis_names, args.quick)
        from vigil.streams.store import RedisStateStore

        for name in redis_names.values():
            RedisStateStore(args.redis).drop("default", name)
        service.close()
    _report(args.out, {"equality": equal, "throughput": speed, "state_bytes_per_model": sizes})


def _report(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    equal = report["equality"]
    print()
    print(f"{'stream':40} {'answers':>8} {'max |diff|':>12} {'flags differ':>12}")
    for row in equal:
        print(
            f"{row['stream']:40} {row['answers']:8d} {row['max_abs_difference']:12.2e} "
            f"{row['flag_differences']:12d}"
        )
    views = [(r["stream"], r["operator_view"]) for r in equal if "operator_view" in r]
    if views:
        print()
        print(
            f"{'NAB series':40} {'windows':>8} {'with incident':>14} "
            f"{'incidents':>10} {'outside':>8}"
        )
        for stream, view in views:
            print(
                f"{stream:40} {view['windows']:8d} {view['windows_with_incident']:14d} "
                f"{view['incidents']:10d} {view['incidents_outside_windows']:8d}"
            )
    speed = report.get("throughput")
    if not speed:
        print(f"wrote {out}")
        return
    print()
    print(f"{'backend':8} {'model':12} {'events/s (1000)':>16} {'p50 ms':>8} {'p99 ms':>8}")
    for row in speed:
        print(
            f"{row['backend']:8} {row['model']:12} {row['events_per_second_batches_1000']:16d} "
            f"{row['single_p50_ms']:8.2f} {row['single_p99_ms']:8.2f}"
        )
    print(f"\nstate bytes per model (SQLite): {report['state_bytes_per_model']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
