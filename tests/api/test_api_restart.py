"""Killing the server during a training job, then starting it again.

The job is retried by the restarted server (its old worker process is gone)
and ends with a version whose artifact is in place; nothing is left
``running`` and no version lacks its artifact.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from process_support import Server, eventually, free_port, start_vigil_serve

ADMIN = "restart-test-admin"


def _start(home: Path, port: int) -> Server:
    return start_vigil_serve(home, {"VIGIL_LOG_LEVEL": "INFO"}, admin_key=ADMIN, port=port)


@pytest.mark.slow  # two server starts and a training run
def test_a_job_interrupted_by_a_crash_is_retried_after_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(3000, 6)), columns=[f"f{i}" for i in range(6)])
    frame["y"] = (frame["f0"] > 0).astype(int)
    body = {
        "data": {"rows": frame.to_dict(orient="records")},
        "target": "y",
        # The fit (about 4 ms a tree) only has to outlast the moment between its
        # "fitting" line and the SIGKILL; the retry then fits it all again.
        "params": {"n_estimators": 400},
    }
    headers = {"Authorization": f"Bearer {ADMIN}"}
    server = _start(home, port)
    try:
        submitted = httpx.post(
            f"{server.url}/v1/models/big/train", json=body, headers=headers, timeout=60
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        server.wait_for_line("fitting", timeout=60)
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()

    restarted = _start(home, port)
    try:
        job = eventually(
            lambda: httpx.get(f"{restarted.url}/v1/jobs/{job_id}", headers=headers).json(),
            lambda j: j["status"] in ("succeeded", "failed"),
            timeout=240,
        )
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        assert job["result"]["version"] == 1
    finally:
        restarted.process.send_signal(signal.SIGINT)
        restarted.process.wait(timeout=60)

    with sqlite3.connect(home / "vigil.db") as db:
        keys = [row[0] for row in db.execute("select artifact_key from model_versions")]
        running = db.execute("select count(*) from jobs where status = 'running'").fetchone()
    assert running == (0,)
    assert keys and all((home / "artifacts" / key).is_file() for key in keys)
