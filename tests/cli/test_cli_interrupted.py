"""Killing ``vigil train`` part-way leaves no version and no artifact behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _start_training(tmp_path: Path, home: Path) -> subprocess.Popen[str]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(4000, 8)), columns=[f"f{i}" for i in range(8)])
    frame["y"] = (frame["f0"] + rng.normal(size=4000) > 0).astype(int)
    data = tmp_path / "big.csv"
    frame.to_csv(data, index=False)
    env = {**os.environ, "VIGIL_HOME": str(home), "VIGIL_LOG_LEVEL": "INFO"}
    env.pop("VIGIL_DATABASE_URL", None)
    env.pop("VIGIL_ARTIFACT_URI", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "train",
            str(data),
            "--name",
            "big",
            "--target",
            "y",
            "--param",
            "n_estimators=3000",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_fitting(process: subprocess.Popen[str]) -> None:
    """Reads the log until the fit has started (no sleeping: the line is the signal)."""
    assert process.stderr is not None
    for line in process.stderr:
        if "fitting" in line:
            return
    pytest.fail(f"training ended before fitting started (exit {process.wait()})")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_training_leaves_no_version_and_no_artifact(tmp_path: Path, sig: int) -> None:
    home = tmp_path / "home"
    process = _start_training(tmp_path, home)
    try:
        _wait_for_fitting(process)
        process.send_signal(sig)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code != 0
    with sqlite3.connect(home / "vigil.db") as db:
        assert db.execute("select count(*) from model_versions").fetchone() == (0,)
        assert db.execute("select count(*) from models").fetchone() == (0,)
    artifacts = home / "artifacts"
    assert not artifacts.exists() or not [p for p in artifacts.rglob("*") if p.is_file()]
