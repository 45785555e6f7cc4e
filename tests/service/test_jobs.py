"""Training as a job: submitted, claimed once, run, recovered after a crash, cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from service_support import ADMIN

from clock_support import Clock
from vigil.errors import Conflict, InvalidInput, NotFound
from vigil.security import Caller
from vigil.service import VigilService

CHURN = Path(__file__).resolve().parents[2] / "examples" / "churn.csv"


def _train_request(service: VigilService, **extra: Any) -> dict[str, Any]:
    dataset = service.datasets.create_dataset(
        ADMIN, name="churn", payload=CHURN.read_bytes(), filename="churn.csv"
    )
    return {"data": {"dataset_id": dataset["id"]}, "target": "churned", **extra}


def test_submitted_training_runs_once_and_records_the_version(service: VigilService) -> None:
    job = service.training.submit_training(
        ADMIN, "churn", _train_request(service, params={"n_estimators": 20})
    )
    assert job["status"] == "queued" and job["kind"] == "train"
    assert service.jobs.run_pending_jobs() == 1
    done = service.jobs.get_job(ADMIN, job["id"])
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    assert done["result"]["model"] == "churn" and done["result"]["version"] == 1
    version = service.models.get_version(ADMIN, "churn", 1)
    assert version.job_id == job["id"]
    assert service.jobs.run_pending_jobs() == 0


def test_inline_rows_become_a_stored_dataset(service: VigilService) -> None:
    rows = pd.read_csv(CHURN).head(200).to_dict(orient="records")
    job = service.training.submit_training(
        ADMIN, "churn", {"data": {"rows": rows}, "target": "churned"}
    )
    service.jobs.run_pending_jobs()
    assert service.jobs.get_job(ADMIN, job["id"])["status"] == "succeeded"


def test_a_failing_job_records_the_reason(service: VigilService) -> None:
    job = service.training.submit_training(ADMIN, "churn", _train_request(service, target="nope"))
    service.jobs.run_pending_jobs()
    failed = service.jobs.get_job(ADMIN, job["id"])
    assert failed["status"] == "failed"
    assert "Target column 'nope' does not exist" in failed["error"]


def test_bad_requests_fail_at_submit(service: VigilService) -> None:
    with pytest.raises(InvalidInput, match="exactly one of"):
        service.training.submit_training(ADMIN, "m", {"data": {}})
    with pytest.raises(NotFound):
        service.training.submit_training(ADMIN, "m", {"data": {"dataset_id": "missing"}})
    with pytest.raises(InvalidInput, match="Unknown field 'colour'"):
        service.training.submit_training(
            ADMIN, "m", {"data": {"rows": [{"a": 1}]}, "colour": "red"}
        )
    with pytest.raises(InvalidInput, match="deploy must be one of"):
        service.training.submit_training(ADMIN, "m", _train_request(service, deploy="sometimes"))


def test_jobs_are_invisible_to_other_tenants(service: VigilService) -> None:
    job = service.training.submit_training(ADMIN, "churn", _train_request(service))
    other = Caller(tenant="other", actor="x", role="admin")
    with pytest.raises(NotFound):
        service.jobs.get_job(other, job["id"])
    assert service.jobs.list_jobs(other) == []


def test_a_queued_job_is_cancelled_and_never_runs(service: VigilService) -> None:
    job = service.training.submit_training(ADMIN, "churn", _train_request(service))
    assert service.jobs.cancel_job(ADMIN, job["id"])["status"] == "cancelled"
    assert service.jobs.run_pending_jobs() == 0
    with pytest.raises(Conflict, match="already cancelled"):
        service.jobs.cancel_job(ADMIN, job["id"])


def test_a_running_job_stops_at_its_next_step_when_cancelled(service: VigilService) -> None:
    job = service.training.submit_training(ADMIN, "churn", _train_request(service))
    claimed = service.stores.jobs.claim("w1")
    assert claimed is not None
    service.jobs.cancel_job(ADMIN, job["id"])
    service.jobs.execute_job(claimed, "w1")
    assert service.jobs.get_job(ADMIN, job["id"])["status"] == "cancelled"
    assert service.models.list_models(ADMIN) == []


def test_two_workers_never_claim_the_same_job(service: VigilService) -> None:
    service.training.submit_training(ADMIN, "churn", _train_request(service))
    first, second = service.stores.jobs.claim("w1"), service.stores.jobs.claim("w2")
    assert first is not None and second is None


def test_a_job_left_running_by_a_crash_is_retried_once_then_failed(
    service: VigilService, clock: Clock
) -> None:
    job = service.training.submit_training(ADMIN, "churn", _train_request(service))
    assert service.stores.jobs.claim("crashed-1") is not None
    clock.advance(minutes=5)
    [recovered] = service.jobs.recover_jobs()
    assert recovered.status == "queued" and "crashed-1 stopped" in recovered.message
    assert service.stores.jobs.claim("crashed-2") is not None
    clock.advance(minutes=5)
    service.jobs.recover_jobs()
    failed = service.jobs.get_job(ADMIN, job["id"])
    assert failed["status"] == "failed"
    assert "no retries are left" in failed["error"]
    assert service.models.list_models(ADMIN) == []


def test_a_live_job_is_not_recovered(service: VigilService, clock: Clock) -> None:
    job = service.training.submit_training(ADMIN, "churn", _train_request(service))
    service.stores.jobs.claim("alive")
    clock.advance(seconds=30)
    service.stores.jobs.heartbeat(job["id"], "alive")
    clock.advance(seconds=45)
    assert service.jobs.recover_jobs() == []


def test_a_job_of_a_dead_process_on_this_host_is_recovered_at_once(
    service: VigilService,
) -> None:
    import socket
    import subprocess
    import sys

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_worker = f"{socket.gethostname()}:{finished.stdout.strip()}:abc123"
    job = service.training.submit_training(ADMIN, "churn", _train_request(service))
    assert service.stores.jobs.claim(dead_worker) is not None
    [recovered] = service.jobs.recover_jobs()
    assert recovered.id == job["id"] and recovered.status == "queued"
    assert service.jobs.run_pending_jobs() == 1
    done = service.jobs.get_job(ADMIN, job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 2


def test_a_job_of_a_live_process_is_left_alone(service: VigilService) -> None:
    from vigil.jobs.runner import new_worker_id

    service.training.submit_training(ADMIN, "churn", _train_request(service))
    assert service.stores.jobs.claim(new_worker_id()) is not None
    assert service.jobs.recover_jobs() == []
