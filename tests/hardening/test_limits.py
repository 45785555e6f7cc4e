"""Bounded work: columns per dataset, cells per training table, time per job, prompt cancels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from process_support import eventually
from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.errors import InvalidInput
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TRAINER = Caller(actor="test", role="admin")
# A forest this large fits for a minute on this data: long enough that only an
# interruption inside the fit can end it within the bound below.
SLOW_FOREST = {"n_estimators": 5000, "max_depth": None}


def _rows(count: int) -> list[dict[str, Any]]:
    frame = pd.read_csv(EXAMPLES / "churn.csv").head(count)
    rows: list[dict[str, Any]] = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return rows


def _service(home: Path, **env: str) -> VigilService:
    return VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home), **env}))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[VigilService]:
    running = _service(tmp_path / "home")
    yield running
    running.close()
    running.store.engine.dispose()


def test_a_200000_column_file_is_refused_at_upload_before_it_is_parsed(
    service: VigilService,
) -> None:
    header = ",".join(f"c{i}" for i in range(200_000))
    row = ",".join("0" for _ in range(200_000))
    payload = f"{header}\n{row}\n{row}\n".encode()
    with pytest.raises(InvalidInput) as refused:
        service.datasets.create_dataset(TRAINER, name="wide", payload=payload, filename="wide.csv")
    assert refused.value.message == (
        "Data file wide.csv has 200,000 columns; the limit is 10,000 per dataset "
        "(VIGIL_MAX_COLUMNS). Select the columns you need first."
    )


def test_the_limits_are_configurable(tmp_path: Path) -> None:
    narrow = _service(tmp_path / "home", VIGIL_MAX_COLUMNS="3", VIGIL_MAX_CELLS="100")
    try:
        with pytest.raises(InvalidInput, match="has 9 columns; the limit is 3"):
            narrow.datasets.create_dataset(
                TRAINER,
                name="churn",
                payload=(EXAMPLES / "churn.csv").read_bytes(),
                filename="churn.csv",
            )
        churn = load_dataset(EXAMPLES / "churn.csv")
        small = replace(churn, frame=churn.frame[["plan", "tenure_months", "churned"]].head(40))
        with pytest.raises(InvalidInput, match="= 120 cells; the limit is 100 per training job"):
            narrow.training.train(TRAINER, "m", small, TrainSpec(target="churned"))
    finally:
        narrow.store.engine.dispose()
    with pytest.raises(ValueError, match="VIGIL_MAX_TRAINING_SECONDS must be a positive"):
        Settings.from_env({"VIGIL_HOME": str(tmp_path), "VIGIL_MAX_TRAINING_SECONDS": "0"})


def _submit_slow(service: VigilService, name: str = "slow") -> str:
    body = {
        "data": {"rows": _rows(600)},
        "target": "churned",
        "algorithm": "random_forest",
        "params": SLOW_FOREST,
    }
    job: str = service.training.submit_training(TRAINER, name, body)["id"]
    return job


def _fitting(service: VigilService, job_id: str) -> dict[str, Any]:
    state = eventually(
        lambda: service.jobs.get_job(TRAINER, job_id),
        lambda j: j["status"] == "running" and "fitting" in (j.get("message") or ""),
        timeout=60,
    )
    assert "fitting" in (state.get("message") or ""), state
    return dict(state)


def test_a_cancel_stops_a_long_fit_midway(service: VigilService) -> None:
    service.jobs.start_workers(1)
    job_id = _submit_slow(service)
    _fitting(service, job_id)
    service.jobs.cancel_job(TRAINER, job_id)
    # The outcome is the check, not the wall clock (a loaded machine stretches any bound):
    # a fit the cancel did not stop would end "succeeded" with a model; this one ends
    # "cancelled" with none.
    state = eventually(
        lambda: service.jobs.get_job(TRAINER, job_id),
        lambda j: j["status"] in ("cancelled", "succeeded", "failed"),
        timeout=120,
    )
    assert state["status"] == "cancelled", state
    assert service.store.list_models("default") == []
    # The worker is free again: the next job runs to its end.
    quick = service.training.submit_training(
        TRAINER, "quick", {"data": {"rows": _rows(80)}, "target": "churned"}
    )["id"]
    done = eventually(
        lambda: service.jobs.get_job(TRAINER, quick),
        lambda j: j["status"] in ("succeeded", "failed"),
        timeout=120,
    )
    assert done["status"] == "succeeded", done


def test_a_job_past_its_time_limit_is_stopped_and_failed(tmp_path: Path) -> None:
    limited = _service(tmp_path / "home", VIGIL_MAX_TRAINING_SECONDS="2")
    try:
        limited.jobs.start_workers(1)
        job_id = _submit_slow(limited)
        state = eventually(
            lambda: limited.jobs.get_job(TRAINER, job_id),
            lambda j: j["status"] in ("failed", "succeeded", "cancelled"),
            timeout=60,
        )
        assert state["status"] == "failed", state
        assert state["error"] == (
            "The job ran past its time limit of 2 s and was stopped (VIGIL_MAX_TRAINING_SECONDS)."
        )
    finally:
        limited.close()
        limited.store.engine.dispose()
