"""Training and predicting on logs through the command line: per event and per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.simulate import simulate, write_frame


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated JSON log events with incidents, labelled in is_anomaly."""
    path = tmp_path_factory.mktemp("logs") / "app.jsonl"
    write_frame(simulate("logs", 4000, anomaly_rate=0.05, seed=8), path)
    return path


def _hdfs_lines(blocks: int, seed: int, failing: float = 0.05) -> list[str]:
    """Returns HDFS-layout lines of interleaved block lifecycles; some blocks fail to replicate."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(10**17, 10**18, blocks) * rng.choice([-1, 1], blocks)
    events: list[tuple[int, str]] = []
    for i, block in enumerate(ids):
        start = i * 7
        steps = [
            "dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/job/part-{i}. blk_{b}",
            "dfs.DataNode$DataXceiver: Receiving block blk_{b} src: /10.0.0.1:4{i} "
            "dest: /10.0.0.2:50010",
            "dfs.DataNode$PacketResponder: Received block blk_{b} of size 67108864 from /10.0.0.1",
            "dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.0.0.2:50010 "
            "is added to blk_{b} size 67108864",
            "dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_{b} terminating",
        ]
        if rng.random() < failing:
            steps[2:] = [
                "dfs.DataNode$DataXceiver: writeBlock blk_{b} received exception "
                "java.io.IOException",
                "dfs.DataNode$PacketResponder: PacketResponder blk_{b} 2 Exception "
                "java.io.EOFException",
            ]
        for k, step in enumerate(steps):
            events.append((start + 3 * k, step.format(b=block, i=i)))
    events.sort(key=lambda e: e[0])
    return [
        f"081109 {20 + t // 3600:02d}{t // 60 % 60:02d}{t % 60:02d} 143 INFO {text}"
        for t, text in events
    ]


def test_per_event_model_trains_and_predicts_every_event_in_order(cli, log_file: Path) -> None:
    trained = cli(
        "train", log_file, "--name", "app-logs", "--task", "anomaly", "--features", "logs",
        "--target", "is_anomaly", "--json",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    document = trained.json()
    assert document["model"] == "app-logs" and document["version"] == 1
    assert document["task"] == "anomaly"
    assert document["features"]["kind"] == "logs"
    assert document["parse"]["malformed"] == 0 and document["parse"]["parsed"] == 4000
    assert document["metrics"]["roc_auc"] > 0.8
    assert not any("is_anomaly" in name for name in document["feature_importance"])

    predicted = cli("predict", "app-logs", log_file, "--json")
    assert predicted.code == 0, predicted.stderr
    predictions = predicted.json()["predictions"]
    assert len(predictions) == 4000
    assert [p["line"] for p in predictions] == list(range(1, 4001))
    first = predictions[0]
    assert {"id", "version", "prediction", "score", "is_anomaly", "severity"} <= set(first)
    assert 0.0 <= first["score"] <= 1.0


def test_malformed_lines_are_reported_on_stderr_and_in_json(cli, tmp_path: Path) -> None:
    lines = simulate("logs", 1500, seed=3).to_json(orient="records", lines=True, date_format="iso")
    path = tmp_path / "broken.log"
    path.write_text(lines.rstrip("\n") + '\n{"cut": \nnot json at all\n')
    trained = cli("train", path, "--name", "broken", "--features", "logs")
    assert trained.code == 0, trained.stderr
    assert "skipped 2 malformed of 1502 lines" in trained.stderr
    assert "line 1501" in trained.stderr

    predicted = cli("predict", "broken", path, "--json")
    assert predicted.code == 0, predicted.stderr
    document = predicted.json()
    assert document["parse"]["malformed"] == 2
    assert [e["line"] for e in document["parse"]["examples"]] == [1501, 1502]
    assert len(document["predictions"]) == 1500
    assert "malformed" in predicted.stderr


def test_session_model_answers_per_session_with_its_key(cli, tmp_path: Path) -> None:
    train_path = tmp_path / "hdfs_train.log"
    train_path.write_text("\n".join(_hdfs_lines(400, seed=1)) + "\n")
    trained = cli(
        "train", train_path, "--name", "blocks", "--task", "anomaly", "--features", "logs",
        "--session-key", r"blk_-?\d+", "--log-format", "hdfs", "--json",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    document = trained.json()
    assert document["rows"]["total"] == 400
    assert document["features"]["options"]["session_key"] == r"blk_-?\d+"

    lines = _hdfs_lines(60, seed=2)
    test_path = tmp_path / "hdfs_new.log"
    test_path.write_text("\n".join(lines) + "\n")
    predicted = cli("predict", "blocks", test_path, "--json")
    assert predicted.code == 0, predicted.stderr
    predictions = predicted.json()["predictions"]
    expected_order = list(
        dict.fromkeys(line.split("blk_")[1].split()[0].rstrip(".") for line in lines)
    )
    assert [p["session"] for p in predictions] == [f"blk_{b}" for b in expected_order]
    failing = {p["session"] for p in predictions if p["is_anomaly"]}
    broken = {"blk_" + line.split("blk_")[1].split()[0] for line in lines if "Exception" in line}
    assert broken and broken <= failing


def test_time_window_sessions_are_keyed_by_window_start(cli, log_file: Path) -> None:
    trained = cli(
        "train", log_file, "--name", "windows", "--features", "logs", "--window", "10min",
        "--json",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    predicted = cli("predict", "windows", log_file, "--json")
    sessions = [p["session"] for p in predicted.json()["predictions"]]
    assert sessions[0] == "2024-01-01T00:00:00Z"
    assert sessions == sorted(sessions)


def test_people_see_sessions_in_the_table(cli, log_file: Path) -> None:
    assert cli("train", log_file, "--name", "w", "--features", "logs", "--window", "1h").code == 0
    shown = cli("predict", "w", log_file)
    assert shown.code == 0, shown.stderr
    assert "session" in shown.stdout and "2024-01-01T00:00:00Z" in shown.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--session-key", "blk"), "--session-key needs --features logs"),
        (("--features", "metrics", "--session-key", "blk"), "does not apply to --features metrics"),
        (("--features", "logs", "--session-key", "blk_("), "not a valid regex"),
        (("--features", "logs", "--log-format", "syslog"), "Unknown log format"),
        (("--features", "logs", "--window", "5min", "--session-key", "b"), "one way"),
    ],
)
def test_wrong_log_options_are_usage_errors(
    cli, log_file: Path, args: tuple[str, ...], fragment: str
) -> None:
    result = cli("train", log_file, "--name", "bad", *args)
    assert result.code == 2, (result.code, result.stderr)
    assert fragment in result.stderr
