"""Two API processes and one worker on one PostgreSQL database: one scheduler acts.

Every process runs the policy scheduler (ticking five times a second here);
only the holder of the lease in the database checks the policies, so the
feedback trigger queues one retraining, which the worker runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from api_support import CHURN, json_rows
from sqlalchemy import update

from process_support import eventually, launch_vigil, stop_all
from scenario_support import LABELS, LOG_POLICY, LOG_SPEC, shifted_logs
from vigil.config import Settings
from vigil.data.loading import Dataset, load_dataset
from vigil.registry.tables import LeaseRow, PolicyRow
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate.logs import simulate_logs
from vigil.training.trainer import TrainSpec

ADMIN_KEY = "replica-test-admin-secret"
OWNER = Caller(tenant="default", actor="test:setup", role="admin")
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
_COMMANDS = (["serve"], ["serve"], ["worker"])


def _environment(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    """Returns the settings of the service and of every process: one database, one store."""
    return {
        "VIGIL_HOME": str(tmp_path / "home"),
        "VIGIL_DATABASE_URL": postgres_url,
        "VIGIL_ARTIFACT_URI": str(tmp_path / "artifacts"),
        "VIGIL_SECRET_KEY": "replica-secret",
        "VIGIL_ADMIN_KEY": ADMIN_KEY,
        "VIGIL_JOB_THREADS": "0",
        "VIGIL_SCHEDULER_INTERVAL": "0.2",
        "VIGIL_LOG_LEVEL": "INFO",
    }


@contextmanager
def _cluster(env: dict[str, str]) -> Iterator[list[str]]:
    """Yields the URLs of two ``vigil serve`` processes, with a ``vigil worker`` running too."""
    home = Path(env["VIGIL_HOME"])
    # Started together (imports dominate start-up), then awaited one by one.
    processes = [launch_vigil(command, home, env, admin_key=ADMIN_KEY) for command in _COMMANDS]
    try:
        servers = [process.started() for process in processes[:2]]
        processes[2].keep_draining()
        processes[2].wait_for_line("running jobs and schedules", timeout=60)
        yield [server.url for server in servers]
    finally:
        stop_all(processes)


def _retrains(service: VigilService) -> list[dict]:
    return [j for j in service.jobs.list_jobs(OWNER) if j["kind"] == "retrain"]


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
    service.training.train(OWNER, "churn", load_dataset(CHURN), spec)
    service.policies.put_policy(OWNER, "churn", {"triggers": {"feedback_count": 30}})
    yield service, env
    service.store.engine.dispose()


def test_one_scheduler_acts_and_the_worker_runs_its_job(
    shared: tuple[VigilService, dict[str, str]],
) -> None:
    service, env = shared
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with _cluster(env) as urls:
        labelled = pd.read_csv(CHURN).head(40)
        with httpx.Client(base_url=urls[0], headers=headers, timeout=60) as api:
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
        with httpx.Client(base_url=urls[1], headers=headers, timeout=60) as api:
            api.post("/v1/scheduler/run")
        assert len(_retrains(service)) == 1
        submits = [
            e
            for e in service.audit.list_audit(OWNER)
            if e["action"] == "job.submit" and e["detail"].get("kind") == "retrain"
        ]
        assert len(submits) == 1 and submits[0]["actor"] == "policy"
        _one_leader(service)


def _send_with_feedback(api: httpx.Client, frame: pd.DataFrame) -> None:
    """Predicts ``frame`` (sent as a client sends JSON) and labels every answer at once."""
    rows = json.loads(frame.drop(columns=LABELS).to_json(orient="records", date_format="iso"))
    answer = api.post("/v1/models/logs/predict", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    items = [
        {"prediction_id": p["id"], "actual": int(label)}
        for p, label in zip(answer.json()["predictions"], frame["is_anomaly"], strict=True)
    ]
    joined = api.post("/v1/models/logs/feedback", json={"items": items})
    assert joined.json()["accepted"] == len(items), joined.text


def _alert_kinds(service: VigilService) -> set[str]:
    return {a["kind"] for a in service.alerts.list_alerts(OWNER, "logs")}


def test_the_loop_runs_once_across_two_api_processes_and_a_worker(
    postgres_url: str, tmp_path: Path
) -> None:
    env = _environment(postgres_url, tmp_path)
    service = VigilService.from_settings(Settings.from_env(env))
    try:
        data = Dataset(simulate_logs(3000, 0.05, 1), "a" * 64, "jsonl", "sim")
        assert service.training.train(OWNER, "logs", data, LOG_SPEC).version.version == 1
        # Ticks come five times a second while feedback arrives: judge whole batches.
        service.policies.put_policy(OWNER, "logs", {**LOG_POLICY, "min_feedback": 600})
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with (
            _cluster(env) as urls,
            httpx.Client(base_url=urls[0], headers=headers, timeout=60) as first,
            httpx.Client(base_url=urls[1], headers=headers, timeout=60) as second,
        ):
            # Shifted traffic through the first process: drift and degradation are alerted,
            # and the metric drop queues one retraining, which the worker runs.
            _send_with_feedback(first, shifted_logs(1600, seed=2))
            done = eventually(
                lambda: _retrains(service),
                lambda jobs: any(j["status"] in ("succeeded", "failed") for j in jobs),
                timeout=120,
            )
            assert [j["status"] for j in done] == ["succeeded"], done
            result = done[0]["result"]
            assert {"drift", "degradation"} <= _alert_kinds(service)
            assert result["champion"] == 1 and result["challenger"] == 2
            assert result["promoted"] is True, result
            assert service.models.get_model(OWNER, "logs").production_version == 2, (
                service.models.history(OWNER, "logs")
            )

            # v2 serves the shifted traffic through the second process below its trained f1
            # (held-out rows of the old traffic), but better than v1 did: no rollback to v1.
            # Only a little below (as in test_lifecycle_scenario.py), so any drop counts here.
            service.policies.put_policy(
                OWNER,
                "logs",
                {
                    **LOG_POLICY,
                    "min_feedback": 600,
                    "degradation_drop": 0.001,
                    "rollback": {"enabled": True, "metric_drop": 0.001},
                },
            )
            _send_with_feedback(second, shifted_logs(600, seed=3))
            withheld = eventually(
                lambda: [
                    a
                    for a in service.alerts.list_alerts(OWNER, "logs")
                    if "was not rolled back" in a["message"]
                ],
                bool,
                timeout=60,
            )
            assert withheld and withheld[0]["version"] == 2, service.models.history(OWNER, "logs")
            assert service.models.get_model(OWNER, "logs").production_version == 2

            # A retraining asked for by hand that cannot beat v2 by the margin is kept back.
            policy = second.get("/v1/models/logs/policy").json()["policy"]
            policy["promotion"] = {**policy["promotion"], "margin": 1.0}
            assert second.put("/v1/models/logs/policy", json=policy).status_code == 200
            queued = second.post("/v1/models/logs/retrain", json={"reason": "by hand"})
            assert queued.status_code == 202, queued.text
            kept = eventually(
                lambda: first.get(f"/v1/jobs/{queued.json()['job_id']}").json(),
                lambda job: job["status"] in ("succeeded", "failed"),
                timeout=120,
            )
            assert kept["status"] == "succeeded", kept
            assert kept["result"]["promoted"] is False and kept["result"]["challenger"] == 3
            assert service.models.get_model(OWNER, "logs").production_version == 2

            worse_data = simulate_logs(3000, 0.3, 4)
            worse_data = worse_data[worse_data["is_anomaly"] == 1].drop(columns=LABELS)
            worse = service.training.train(
                OWNER,
                "logs",
                Dataset(worse_data, "b" * 64, "jsonl", "anomalies only"),
                replace(LOG_SPEC, target=None),
            ).version.version
            deployed = second.post(
                "/v1/models/logs/deploy", json={"version": worse, "reason": "a bad deploy"}
            )
            assert deployed.status_code == 200, deployed.text
            served = eventually(
                lambda: first.post(
                    "/v1/models/logs/predict",
                    json={
                        "instances": json.loads(
                            shifted_logs(1, seed=9)
                            .drop(columns=LABELS)
                            .to_json(orient="records", date_format="iso")
                        )
                    },
                ).json()["predictions"][0]["version"],
                lambda version: version == worse,
                timeout=30,
            )
            assert served == worse
            _send_with_feedback(first, shifted_logs(600, seed=5))
            history = eventually(
                lambda: service.models.history(OWNER, "logs"),
                lambda events: events[-1].action == "rollback",
                timeout=60,
            )
            assert history[-1].action == "rollback" and history[-1].actor == "policy"
            assert service.models.get_model(OWNER, "logs").production_version == 2
            assert "rollback" in _alert_kinds(service)
            # The policy queued one retraining in all (the other was asked for); one lease.
            submitters = sorted(
                e["actor"]
                for e in service.audit.list_audit(OWNER)
                if e["action"] == "job.submit" and e["detail"].get("kind") == "retrain"
            )
            assert submitters == ["key:environment", "policy"], submitters
            _one_leader(service)
    finally:
        service.store.engine.dispose()


def test_a_due_schedule_runs_once_across_the_processes(
    shared: tuple[VigilService, dict[str, str]],
) -> None:
    service, env = shared
    service.policies.put_policy(OWNER, "churn", {"schedule": {"interval_minutes": 60}})
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with _cluster(env) as urls:
        # The hour has passed: every process's scheduler ticks five times a second.
        due = datetime.now(UTC) - timedelta(seconds=1)
        with service.store.engine.begin() as connection:
            connection.execute(update(PolicyRow).values(next_run_at=due))
        done = eventually(
            lambda: _retrains(service),
            lambda jobs: any(j["status"] in ("succeeded", "failed") for j in jobs),
            timeout=90,
        )
        assert [j["status"] for j in done] == ["succeeded"], done
        assert done[0]["result"]["reason"] == "schedule", done
        state = service.policies.get_policy(OWNER, "churn")
        assert state["next_run_at"] is not None
        assert datetime.fromisoformat(state["next_run_at"]) > datetime.now(UTC)
        # More ticks, asked for on both API processes: the run is not repeated.
        for url in urls:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
                assert api.post("/v1/scheduler/run").status_code == 200
        assert len(_retrains(service)) == 1
        _one_leader(service)
