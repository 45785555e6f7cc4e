"""``vigil simulate access``: nginx combined lines, labels beside them, deterministic per seed."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.features.parsers import parse_lines
from vigil.simulate import simulate, write_frame

# nginx's combined format followed by $request_time, written out field by field.
COMBINED = re.compile(
    r"^\d{1,3}(\.\d{1,3}){3} - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "
    r'"(GET|POST) /\S* HTTP/(1\.1|2\.0)" \d{3} \d+ "[^"]*" "[^"]+" \d+\.\d{3}$'
)


def test_every_line_is_nginx_combined_with_a_request_time() -> None:
    frame = simulate("access", 3000, anomaly_rate=0.1, seed=2)
    assert list(frame.columns) == ["line", "is_anomaly", "anomaly_type"]
    assert all(COMBINED.match(line) for line in frame["line"])
    parsed = parse_lines(frame["line"])
    assert parsed.report.format == "nginx"
    assert parsed.report.malformed == 0
    events = parsed.events
    assert events["timestamp"].is_monotonic_increasing
    assert events["request_time"].notna().all()
    assert set(events["method"]) == {"GET", "POST"}


def test_labels_say_what_each_line_is() -> None:
    frame = simulate("access", 5000, anomaly_rate=0.1, seed=4)
    events = parse_lines(frame["line"], "nginx").events
    kind = frame["anomaly_type"]
    assert frame["is_anomaly"].sum() == 500
    assert ((kind == "") == (frame["is_anomaly"] == 0)).all()
    assert set(kind) == {"", "error_burst", "latency_spike"}
    assert (events.loc[kind == "error_burst", "status_code"] >= 500).all()
    # Normal traffic has its own few 5xx, but nothing like a burst.
    assert (events.loc[kind == "", "status_code"] >= 500).mean() < 0.01
    slow = events.loc[kind == "latency_spike", "request_time"].median()
    assert slow > 5 * events.loc[kind == "", "request_time"].median()
    # Incidents are runs of consecutive lines, to the application, never to static files.
    flags = frame["is_anomaly"].to_numpy()
    runs = int((np.diff(np.concatenate(([0], flags))) == 1).sum())
    assert flags.sum() / runs >= 4
    assert not events.loc[kind != "", "path"].str.startswith("/static").any()


def test_the_same_seed_gives_the_same_lines_and_another_seed_others() -> None:
    first = simulate("access", 800, anomaly_rate=0.05, seed=9)
    pd.testing.assert_frame_equal(first, simulate("access", 800, anomaly_rate=0.05, seed=9))
    assert not first.equals(simulate("access", 800, anomaly_rate=0.05, seed=10))


def test_start_sets_the_time_of_the_first_line() -> None:
    frame = simulate("access", 50, anomaly_rate=0.0, seed=1, start=datetime(2025, 3, 4, 10, 0))
    assert "[04/Mar/2025:10:0" in frame["line"].iloc[0]


def test_a_log_file_holds_the_raw_lines_and_its_labels_lie_beside_it(tmp_path: Path) -> None:
    frame = simulate("access", 300, anomaly_rate=0.1, seed=5)
    labels = write_frame(frame, tmp_path / "access.log")
    assert labels == tmp_path / "access.labels.csv"
    assert (tmp_path / "access.log").read_text().splitlines() == frame["line"].tolist()
    answers = pd.read_csv(labels, keep_default_na=False)
    assert answers["line"].tolist() == list(range(1, 301))
    assert answers["is_anomaly"].tolist() == frame["is_anomaly"].tolist()
    assert answers["anomaly_type"].tolist() == frame["anomaly_type"].tolist()
    assert write_frame(frame, tmp_path / "access.csv") is None


def test_the_cli_writes_an_access_log_and_names_its_labels(tmp_path: Path) -> None:
    out = tmp_path / "nginx.log"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "access",
            "--rows",
            "200",
            "--anomaly-rate",
            "0.1",
            "--seed",
            "3",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["anomalies"] == 20
    assert document["labels"] == str(tmp_path / "nginx.labels.csv")
    assert len(out.read_text().splitlines()) == 200


def test_a_table_of_lines_and_labels_trains_with_the_labels_as_target() -> None:
    from vigil.training.trainer import TrainSpec, train_model

    frame = simulate("access", 600, anomaly_rate=0.1, seed=6)
    spec = TrainSpec(task="anomaly", target="is_anomaly", feature_kind="logs", seed=1)
    outcome = train_model(frame, spec)
    assert {"precision", "recall", "roc_auc"} <= set(outcome.metrics)
    # The labels are answers, never features; the raw line was parsed into fields.
    names = [column.name for column in outcome.bundle.schema]
    assert "status_5xx" in names
    assert not any("anomaly" in name for name in names)
