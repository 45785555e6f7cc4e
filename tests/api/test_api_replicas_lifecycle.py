"""Two API processes and one worker on one PostgreSQL database: one scheduler acts.

Every process runs the policy scheduler (ticking five times a second here);
only the holder of the lease in the database checks the policies, so the
feedback trigger queues one retraining, which the worker runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from api_support import CHURN, VIGIL_ENV_NAMES, Server, eventually, json_rows, read_until_started

from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.registry.tables import LeaseRow
from vigil.service import Caller, VigilService
from vigil.training.trainer import TrainSpec

ADMIN_KEY = "replica-test-admin-secret"
OWNER = Caller(tenant="default", actor="test:setup", role="admin")
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _launch(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _await(process: subprocess.Popen[bytes], ready: str) -> None:
    """Returns once the process logged ``ready`` (bounded), then keeps draining its stderr."""
    if ready == "Application startup complete":
        holder = Server("", "", process, read_until_started(process))
        threading.Thread(target=holder.drain, daemon=True).start()
        return
    holder = Server("", "", process)
    threading.Thread(target=holder.drain, daemon=True).start()
    holder.wait_for_line(ready, timeout=60)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _environment(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VIGIL_ENV_NAMES}
    env.update(
        VIGIL_HOME=str(tmp_path / "home"),
        VIGIL_DATABASE_URL=postgres_url,
        VIGIL_ARTIFACT_URI=str(tmp_path / "artifacts"),
        VIGIL_SECRET_KEY="replica-secret",
        VIGIL_ADMIN_KEY=ADMIN_KEY,
        VIGIL_JOB_THREADS="0",
        VIGIL_SCHEDULER_INTERVAL="0.2",
        VIGIL_LOG_LEVEL="INFO",
    )
    return env


@contextmanager
def _cluster(env: dict[str, str]) -> Iterator[list[str]]:
    """Yields the URLs of two ``vigil serve`` processes, with a ``vigil worker`` running too."""
    ports = [_free_port(), _free_port()]
    serve = [sys.executable, "-m", "vigil.cli.main", "serve", "--port"]
    processes = []
    try:
        # Started together (imports dominate start-up), then awaited one by one.
        for port in ports:
            processes.append(_launch([*serve, str(port)], env))
        processes.append(_launch([sys.executable, "-m", "vigil.cli.main", "worker"], env))
        for process in processes[:2]:
            _await(process, "Application startup complete")
        _await(processes[2], "running jobs and schedules")
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            _stop(process)


def _retrains(service: VigilService) -> list[dict]:
    return [j for j in service.list_jobs(OWNER) if j["kind"] == "retrain"]


def _one_leader(service: VigilService) -> None:
    with service.store.engine.connect() as connection:
        holders = connection.execute(LeaseRow.__table__.select()).all()
    assert len(holders) == 1


@pytest.fixture
def shared(postgres_url: str, tmp_path: Path) -> Iterator[tuple[VigilService, dict[str, str]]]:
    """Returns a service on the shared database (a model trained) and the processes' env."""
    env = _environment(postgres_url, tmp_path)
    service = VigilService.from_settings(Settings.from_env(env))
    spec = TrainSpec(target="churned", algorithm="random_forest", params={"n_estimators": 20})
    service.train(OWNER, "churn", load_dataset(CHURN), spec)
    service.put_policy(OWNER, "churn", {"triggers": {"feedback_count": 30}})
    yield service, env
    service.store.engine.dispose()


def test_one_scheduler_acts_and_the_worker_runs_its_job(
    shared: tuple[VigilService, dict[str, str]],
) -> None:
    service, env = shared
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with _cluster(env) as urls:
        labelled = pd.read_csv(CHURN).head(40)
        with httpx.Client(base_url=urls[0], headers=headers) as api:
            answer = api.post(
                "/v1/models/churn/predict",
                json={"instances": json_rows(labelled.drop(columns=["churned"]))},
            ).json()
            items = [
                {"prediction_id": p["id"], "actual": actual}
                for p, actual in zip(answer["predictions"], labelled["churned"], strict=True)
            ]
            joined = api.post("/v1/models/churn/feedback", json={"items": items}).json()
            assert joined["accepted"] == 40, joined

        done = eventually(
            lambda: _retrains(service),
            lambda jobs: any(j["status"] == "succeeded" for j in jobs),
            timeout=90,
        )
        assert [j["status"] for j in done] == ["succeeded"], done
        # The trigger stays true while the schedulers keep ticking: still one job.
        with httpx.Client(base_url=urls[1], headers=headers) as api:
            api.post("/v1/scheduler/run")
        assert len(_retrains(service)) == 1
        submits = [
            e
            for e in service.list_audit(OWNER)
            if e["action"] == "job.submit" and e["detail"].get("kind") == "retrain"
        ]
        assert len(submits) == 1 and submits[0]["actor"] == "policy"
        _one_leader(service)
