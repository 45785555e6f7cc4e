"""Synthetic data generators: deterministic, exact in size and label share, realistic in shape."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest

import vigil.simulate
from vigil.errors import InvalidInput
from vigil.simulate import KINDS, simulate, write_frame

COLUMNS = {
    "logs": {
        "timestamp": "M",
        "service": "str",
        "host": "str",
        "level": "str",
        "message": "str",
        "response_time": "f",
        "status_code": "i",
        "request_id": "str",
        "is_anomaly": "i",
        "anomaly_type": "str",
    },
    "metrics": {
        "timestamp": "M",
        "series": "str",
        "value": "f",
        "is_anomaly": "i",
        "anomaly_type": "str",
    },
    "requests": {
        "timestamp": "M",
        "client_ip": "str",
        "method": "str",
        "path": "str",
        "param": "str",
        "payload": "str",
        "status_code": "i",
        "response_size": "i",
        "user_agent": "str",
        "is_anomaly": "i",
        "anomaly_type": "str",
    },
    "transactions": {
        "timestamp": "M",
        "transaction_id": "str",
        "account_id": "str",
        "merchant": "str",
        "category": "str",
        "amount": "f",
        "country": "str",
        "channel": "str",
        "hour": "i",
        "is_anomaly": "i",
        "anomaly_type": "str",
    },
    "access": {"line": "str", "is_anomaly": "i", "anomaly_type": "str"},
    "users": {
        "user_id": "str",
        "segment": "str",
        "device": "str",
        "account_age_days": "i",
        "sessions_per_week": "f",
        "avg_session_minutes": "f",
        "pages_per_session": "f",
        "purchases": "i",
        "days_since_last_visit": "i",
        "is_anomaly": "i",
        "anomaly_type": "str",
    },
}
ANOMALY_TYPES = {
    "logs": {"latency_spike", "error_burst", "unseen_template", "traffic_drop"},
    "metrics": {"spike", "level_shift", "drop_to_zero", "variance_change"},
    "requests": {
        "sql_injection",
        "xss",
        "path_traversal",
        "command_injection",
        "credential_stuffing",
    },
    "transactions": {"card_testing", "unusual_amount", "foreign_burst", "night_spend"},
    "users": {"bot", "reseller"},
    "access": {"error_burst", "latency_spike"},
}
# Kinds with a timestamp column (access logs carry their time inside each line).
TIMED_KINDS = [kind for kind in KINDS if kind not in ("users", "access")]


@cache
def sample(kind: str, rows: int = 20_000, rate: float = 0.1, seed: int = 3) -> pd.DataFrame:
    """Returns one generated frame per argument set, shared by the tests that only read it."""
    return simulate(kind, rows, anomaly_rate=rate, seed=seed)


def test_kinds_are_the_six_documented_ones() -> None:
    assert KINDS == ("logs", "metrics", "requests", "transactions", "users", "access")


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_frames(kind: str) -> None:
    first = simulate(kind, 3_000, anomaly_rate=0.05, seed=11)
    second = simulate(kind, 3_000, anomaly_rate=0.05, seed=11)
    pd.testing.assert_frame_equal(first, second, check_exact=True)


@pytest.mark.parametrize("kind", KINDS)
def test_different_seeds_give_different_frames(kind: str) -> None:
    first = simulate(kind, 3_000, anomaly_rate=0.05, seed=1)
    second = simulate(kind, 3_000, anomaly_rate=0.05, seed=2)
    assert not first.equals(second)
    assert first["is_anomaly"].tolist() != second["is_anomaly"].tolist()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", [1, 4, 17, 1_234])
def test_row_count_is_exact(kind: str, rows: int) -> None:
    assert len(simulate(kind, rows, anomaly_rate=0.2, seed=5)) == rows


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.1, 0.5])
def test_anomaly_share_matches_rate(kind: str, rate: float) -> None:
    frame = simulate(kind, 5_000, anomaly_rate=rate, seed=9)
    assert abs(frame["is_anomaly"].mean() - rate) <= 0.001
    assert ((frame["anomaly_type"] == "") == (frame["is_anomaly"] == 0)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_each_anomaly_type_appears(kind: str) -> None:
    seen = set(sample(kind)["anomaly_type"].unique()) - {""}
    assert seen == ANOMALY_TYPES[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_columns_and_dtypes(kind: str) -> None:
    frame = sample(kind)
    assert list(frame.columns) == list(COLUMNS[kind])
    for column, expected in COLUMNS[kind].items():
        dtype = frame[column].dtype
        if expected == "str":
            assert pd.api.types.is_string_dtype(dtype), (column, dtype)
        else:
            assert dtype.kind == expected, (column, dtype)
    assert not frame.isna().any().any()
    assert set(frame["is_anomaly"].unique()) <= {0, 1}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_declares_the_label_columns_it_writes(kind: str) -> None:
    written = set(sample(kind).columns) & vigil.simulate.ALL_LABEL_COLUMNS
    assert written == set(vigil.simulate.LABEL_COLUMNS[kind])
    assert {"is_anomaly", "anomaly_type"} <= written


@pytest.mark.parametrize("kind", TIMED_KINDS)
def test_timestamps_never_go_back(kind: str) -> None:
    assert sample(kind)["timestamp"].is_monotonic_increasing


@pytest.mark.parametrize("kind", TIMED_KINDS)
def test_start_sets_when_the_data_begins(kind: str) -> None:
    start = datetime(2023, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    frame = simulate(kind, 200, anomaly_rate=0.0, seed=1, start=start)
    first = frame["timestamp"].iloc[0]
    assert pd.Timestamp("2023-05-01 12:30") <= first < pd.Timestamp("2023-05-02 12:30")


def test_metrics_are_regular_five_minute_points_per_series() -> None:
    frame = sample("metrics")
    for _, points in frame.groupby("series"):
        steps = points["timestamp"].diff().dropna().unique()
        assert list(steps) == [pd.Timedelta(minutes=5)]


def _mean_run_length(flags: pd.Series) -> float:
    values = flags.to_numpy()
    starts = np.flatnonzero(np.diff(np.concatenate(([0], values))) == 1)
    return float(values.sum() / max(len(starts), 1))


def test_metric_faults_and_user_batches_span_consecutive_rows() -> None:
    metrics = sample("metrics")
    runs = [_mean_run_length(s["is_anomaly"]) for _, s in metrics.groupby("series")]
    assert min(runs) >= 3
    assert _mean_run_length(sample("users")["is_anomaly"]) >= 3


@pytest.mark.parametrize("kind", ["logs", "requests", "transactions"])
def test_event_anomalies_cluster_in_time(kind: str) -> None:
    anomalous = sample(kind).query("is_anomaly == 1")
    hours = anomalous["timestamp"].dt.floor("h").nunique()
    assert len(anomalous) / hours >= 3


def test_log_incidents_look_like_their_type() -> None:
    logs = sample("logs")
    bursts = logs[logs["anomaly_type"] == "error_burst"]
    assert (bursts["level"] == "ERROR").all()
    assert bursts["status_code"].between(500, 599).all()
    usual = logs[logs["is_anomaly"] == 0].groupby("service")["response_time"].median()
    spikes = logs[logs["anomaly_type"] == "latency_spike"]
    slowdown = spikes["response_time"] / spikes["service"].map(usual)
    assert slowdown.median() > 5


def test_unseen_templates_never_occur_in_normal_logs() -> None:
    logs = sample("logs")

    def openings(messages: pd.Series) -> set[str]:
        return set(messages.str.split(" ").str[:2].str.join(" "))

    unseen = openings(logs.loc[logs["anomaly_type"] == "unseen_template", "message"])
    normal = openings(logs.loc[logs["is_anomaly"] == 0, "message"])
    assert unseen
    assert not unseen & normal


def test_log_traffic_drops_leave_gaps() -> None:
    logs = sample("logs")
    gaps = logs["timestamp"].diff().dt.total_seconds()
    in_drop = logs["anomaly_type"] == "traffic_drop"
    assert gaps[in_drop].median() > 5 * gaps[logs["is_anomaly"] == 0].median()


def test_metric_faults_look_like_their_type() -> None:
    metrics = sample("metrics")
    assert (metrics.loc[metrics["anomaly_type"] == "drop_to_zero", "value"] == 0).all()
    cpu = metrics[metrics["series"] == "cpu_utilization"]
    assert cpu["value"].between(0, 100).all()
    for _, series in metrics.groupby("series"):
        jump = series["value"].diff()
        after_normal = series["is_anomaly"].shift(1) == 0
        usual = jump[after_normal & (series["is_anomaly"] == 0)].std()
        spikes = jump[after_normal & (series["anomaly_type"] == "spike")]
        assert (spikes > 3 * usual).all()


def test_attack_payloads_are_varied_and_recognisable() -> None:
    requests = sample("requests")
    for attack, marker in [
        ("sql_injection", r"select|union|sleep|\bor\b|\band\b|order|waitfor|drop"),
        ("xss", r"script|on\w+=|javascript:|alert|prompt|confirm|top\["),
        ("path_traversal", r"\.\.|%2e%2e"),
        ("command_injection", r"[;|&`\n]|\$\("),
    ]:
        payloads = requests.loc[requests["anomaly_type"] == attack, "payload"]
        assert payloads.nunique() >= 0.7 * len(payloads), attack
        decoded = payloads.map(unquote).str.replace("+", " ").str.replace("/**/", " ")
        assert decoded.str.lower().str.contains(marker).mean() > 0.95, attack
    normal = requests.loc[requests["is_anomaly"] == 0, "payload"]
    assert not normal.str.contains(r"<script|\.\./|union all select").any()


def test_credential_stuffing_is_failed_logins_from_few_addresses() -> None:
    requests = sample("requests")
    stuffing = requests[requests["anomaly_type"] == "credential_stuffing"]
    assert (stuffing["path"] == "/login").all() and (stuffing["method"] == "POST").all()
    assert (stuffing["status_code"] == 401).mean() > 0.9
    assert stuffing["client_ip"].nunique() <= len(stuffing) / 5


def test_fraud_looks_like_its_type() -> None:
    transactions = sample("transactions")
    by_type = transactions.groupby("anomaly_type")
    assert by_type.get_group("card_testing")["amount"].max() <= 5
    assert by_type.get_group("night_spend")["hour"].between(0, 5).all()
    normal = by_type.get_group("")
    assert by_type.get_group("unusual_amount")["amount"].median() > 10 * normal["amount"].median()
    assert (normal["hour"] < 5).mean() < 0.05


def test_users_have_segments_and_bots_behave_like_bots() -> None:
    users = sample("users")
    assert set(users["segment"]) == {"casual", "power", "shopper", "churning", "bot", "reseller"}
    bots = users[users["anomaly_type"] == "bot"]
    humans = users[users["is_anomaly"] == 0]
    assert bots["pages_per_session"].min() > humans["pages_per_session"].quantile(0.99)
    assert bots["avg_session_minutes"].max() < 0.5
    assert users["user_id"].is_unique


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, parse_dates=["timestamp"])
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    frame = pd.read_json(path, lines=True, dtype=False)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("kind", TIMED_KINDS)
def test_write_frame_round_trips(tmp_path: Path, kind: str, suffix: str) -> None:
    frame = simulate(kind, 500, anomaly_rate=0.1, seed=4)
    path = tmp_path / f"{kind}{suffix}"
    write_frame(frame, path)
    back = _read(path)
    back["timestamp"] = back["timestamp"].astype("datetime64[ms]")
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ".parquet"])
def test_same_seed_writes_identical_bytes(tmp_path: Path, suffix: str) -> None:
    digests = set()
    for attempt in range(2):
        path = tmp_path / f"run{attempt}{suffix}"
        write_frame(simulate("requests", 1_000, seed=8), path)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_jsonl_has_one_object_per_line_with_iso_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    write_frame(simulate("logs", 50, seed=1), path)
    lines = path.read_text().splitlines()
    assert len(lines) == 50
    assert '"timestamp":"2024-01-01T' in lines[0]


def test_write_frame_rejects_an_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as error:
        write_frame(simulate("users", 10), tmp_path / "users.txt")
    assert ".txt" in error.value.message
    for allowed in (".csv", ".jsonl", ".parquet"):
        assert allowed in error.value.message


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"kind": "tweets", "rows": 10}, "kind"),
        ({"kind": "logs", "rows": 0}, "rows"),
        ({"kind": "logs", "rows": -5}, "rows"),
        ({"kind": "logs", "rows": 2.5}, "rows"),
        ({"kind": "logs", "rows": 10, "anomaly_rate": -0.1}, "anomaly_rate"),
        ({"kind": "logs", "rows": 10, "anomaly_rate": 0.51}, "anomaly_rate"),
        ({"kind": "logs", "rows": 10, "anomaly_rate": float("nan")}, "anomaly_rate"),
        ({"kind": "logs", "rows": 10, "seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_named(arguments: dict, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        simulate(**arguments)


def test_messages_give_the_allowed_range() -> None:
    with pytest.raises(InvalidInput, match=r"between 0 and 0\.5"):
        simulate("metrics", 10, anomaly_rate=0.9)
    with pytest.raises(InvalidInput, match="at least 1"):
        simulate("metrics", 0)
    with pytest.raises(InvalidInput, match="logs, metrics, requests, transactions, users"):
        simulate("clicks", 10)


def test_aware_and_naive_utc_starts_agree() -> None:
    naive = simulate("requests", 100, seed=2, start=datetime(2024, 3, 1, 8))
    aware = simulate("requests", 100, seed=2, start=datetime(2024, 3, 1, 8, tzinfo=UTC))
    pd.testing.assert_frame_equal(naive, aware)
