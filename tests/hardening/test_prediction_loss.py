"""kill -9 under load: predictions accepted but never written are counted at the next start.

Vigil counts the loss rather than preventing it (see ``serving/loss_ledger.py``):
after the restart, ``/metrics`` must report exactly the answered predictions
that are not in the database, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hardening_support import ADMIN_KEY
from sqlalchemy import text

from process_support import Server, start_vigil_serve, stop_all, stop_server
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.registry.db import create_engine_for
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIENTS = 4
REQUESTS_PER_CLIENT = 40
ROWS_PER_REQUEST = 5


@pytest.fixture
def trained(database_url: str, tmp_path: Path) -> tuple[Path, str]:
    """Returns a home and database URL holding a deployed classifier."""
    home = tmp_path / "home"
    settings = Settings.from_env({"VIGIL_HOME": str(home), "VIGIL_DATABASE_URL": database_url})
    service = VigilService.from_settings(settings)
    churn = load_dataset(EXAMPLES / "churn.csv")
    churn = replace(churn, frame=churn.frame.head(120))
    spec = TrainSpec(target="churned", algorithm="random_forest", params={"n_estimators": 5})
    service.training.train(Caller(actor="test:setup"), "churn", churn, spec, deploy="always")
    service.store.engine.dispose()
    return home, database_url


def _start(home: Path, database_url: str) -> Server:
    settings = {
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_SCHEDULER": "0",
        "VIGIL_RATE_LIMIT": "0",
        "VIGIL_JOB_THREADS": "0",
    }
    return start_vigil_serve(home, settings, admin_key=ADMIN_KEY)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Collects the servers a test starts and stops those still running."""
    started: list[Server] = []
    yield started
    stop_all(started)


def _load(url: str, rows: list[dict[str, object]], answered: list[int]) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for _ in range(REQUESTS_PER_CLIENT):
            response = http.post("/v1/models/churn/predict", json={"instances": rows})
            assert response.status_code == 200, response.text
            answered.append(len(response.json()["predictions"]))


def _lost_in_metrics(url: str) -> float:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    scraped = httpx.get(f"{url}/metrics", headers=headers, timeout=30).text
    for line in scraped.splitlines():
        if line.startswith('vigil_prediction_log_records_total{outcome="lost"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no lost series in /metrics:\n" + scraped)


@pytest.mark.slow  # two real server starts (imports of the data stack) per database
def test_predictions_lost_to_kill_9_are_counted_at_the_next_start(
    trained: tuple[Path, str], servers: list[Server]
) -> None:
    home, database_url = trained
    first = _start(home, database_url)
    servers.append(first)
    rows = [
        {"plan": "pro", "region": "eu", "tenure_months": i, "support_tickets": 1,
         "monthly_spend": 20.5, "autopay": True, "signup_at": "2025-01-02T03:04:05",
         "last_feedback": "fine"}
        for i in range(ROWS_PER_REQUEST)
    ]  # fmt: skip
    answered: list[int] = []
    clients = [
        threading.Thread(target=_load, args=(first.url, rows, answered)) for _ in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    # Every request has its answer, so the server accepted exactly these; now it dies
    # with whatever its writer had not flushed yet.
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    accepted = sum(answered)
    assert accepted == CLIENTS * REQUESTS_PER_CLIENT * ROWS_PER_REQUEST

    engine = create_engine_for(database_url)
    with engine.connect() as connection:
        written = connection.execute(text("SELECT count(*) FROM predictions")).scalar_one()
    engine.dispose()

    second = _start(home, database_url)
    servers.append(second)
    lost = _lost_in_metrics(second.url)
    assert lost == accepted - written, (accepted, written, lost)
    if lost:
        assert any("never written" in line for line in second.lines), second.lines[-20:]
    print(f"accepted {accepted}, written {written}, counted lost {lost:g}")

    # A clean stop writes everything and leaves nothing for the next start to count.
    assert stop_server(second.process) == 0
    assert list((home / "prediction-log").glob("*.counts")) == []
