"""``vigil watch --follow`` reads a file as it is appended to and rotated, and prints anomalies."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from stream_support import ADMIN

from vigil.config import Settings
from vigil.data.loading import Dataset
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

NORMAL = '{"a": 0.1, "b": -0.2}\n'
ODD = '{{"a": {0}, "b": {0}}}\n'


def _stdout_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next(lines: queue.Queue[str]) -> dict:
    return json.loads(lines.get(timeout=60))


def test_watch_follows_appends_and_rotation(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_HOME=str(tmp_path / "home"), VIGIL_SECRET_KEY="watch-secret")
    service = VigilService.from_settings(Settings.from_env(env))
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    spec = TrainSpec(task="anomaly", algorithm="isolation_forest")
    service.training.train(ADMIN, "sensors", Dataset(frame, "a" * 64, "csv", "s"), spec)
    service.close()

    log = tmp_path / "app.log"
    log.write_text(NORMAL * 5 + ODD.format(40))
    command = [sys.executable, "-m", "vigil.cli.main", "watch", "sensors", str(log)]
    process = subprocess.Popen(
        [*command, "--follow", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _stdout_lines(process)
        assert _next(lines)["input"] == {"a": 40, "b": 40}
        with log.open("a") as appending:
            appending.write(NORMAL * 3 + ODD.format(50))
        assert _next(lines)["input"] == {"a": 50, "b": 50}
        # Rotation: the file is renamed away, a last line lands in it, a new file starts.
        log.rename(tmp_path / "app.log.1")
        with (tmp_path / "app.log.1").open("a") as rotated:
            rotated.write(ODD.format(60))
        log.write_text(NORMAL + ODD.format(70))
        assert _next(lines)["input"] == {"a": 60, "b": 60}
        assert _next(lines)["input"] == {"a": 70, "b": 70}
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert "Watched 13 events: 4 anomalies" in err, err

    # The anomalies formed incidents, listed and acknowledged from the command line.
    listed = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "incidents", "sensors", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(listed.stdout)["incidents"]
    assert found and sum(i["events"] for i in found) == 4
    acknowledged = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "incidents", "sensors", "--ack", found[0]["id"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "acknowledged" in acknowledged.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "incidents", "sensors", "--status", "closed"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and "open or resolved" in wrong.stderr
