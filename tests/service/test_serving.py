"""Routing by deployment, shadow scoring, the prediction log and hot swap."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from service_support import ADMIN
from sqlalchemy import text

from vigil.data.loading import load_dataset
from vigil.registry.entities import ModelRecord
from vigil.service import VigilService
from vigil.serving.routing import choose_version
from vigil.training.trainer import TrainSpec

CHURN = Path(__file__).resolve().parents[2] / "examples" / "churn.csv"


def _model(canary_weight: float) -> ModelRecord:
    return ModelRecord(
        id=1,
        tenant="t",
        name="m",
        task="classification",
        created_at=datetime.now(UTC),
        created_by="x",
        production_version=1,
        canary_version=2,
        canary_weight=canary_weight,
    )


@pytest.mark.parametrize("weight", [10.0, 37.5, 90.0])
def test_canary_share_is_within_one_and_a_half_points_of_its_weight(weight: float) -> None:
    rng = random.Random(7)
    model = _model(weight)
    picks = [choose_version(model, rng=rng) for _ in range(10_000)]
    share = 100 * picks.count(2) / len(picks)
    assert abs(share - weight) <= 1.5


def test_a_routing_key_always_lands_on_the_same_side() -> None:
    model = _model(30.0)
    for key in (f"user-{i}" for i in range(200)):
        first = choose_version(model, key)
        assert all(choose_version(model, key) == first for _ in range(5))
    keyed = [choose_version(model, f"user-{i}") for i in range(10_000)]
    assert abs(100 * keyed.count(2) / len(keyed) - 30.0) <= 1.5


def _train(service: VigilService, **params: object) -> int:
    result = service.training.train(
        ADMIN,
        "churn",
        load_dataset(CHURN),
        TrainSpec(
            target="churned", algorithm="random_forest", params={"n_estimators": 10, **params}
        ),
    )
    return result.version.version


def _logged(service: VigilService) -> list[tuple[str, int, bool]]:
    service.prediction_log.flush()
    with service.store.engine.connect() as connection:
        rows = connection.execute(text("select id, version, shadow from predictions")).all()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def test_every_prediction_is_logged_with_its_version(service: VigilService) -> None:
    _train(service)
    rows = pd.read_csv(CHURN).drop(columns="churned").head(25)
    result = service.predictions.predict(ADMIN, "churn", rows)
    logged = _logged(service)
    assert sorted(i for i, _, _ in logged) == sorted(p["id"] for p in result.predictions)
    assert {(v, s) for _, v, s in logged} == {(1, False)}


def test_shadow_results_are_recorded_and_absent_from_responses(service: VigilService) -> None:
    _train(service)
    _train(service, n_estimators=12)
    service.models.deploy(ADMIN, "churn", 2, strategy="shadow")
    rows = pd.read_csv(CHURN).drop(columns="churned").head(10)
    result = service.predictions.predict(ADMIN, "churn", rows)
    assert {p["version"] for p in result.predictions} == {1}
    service.close()
    logged = _logged(service)
    assert sum(1 for _, v, s in logged if s and v == 2) == 10
    assert sum(1 for _, v, s in logged if not s and v == 1) == 10


def test_the_buffered_log_is_flushed_on_close(service: VigilService) -> None:
    _train(service)
    service.prediction_log.start()
    rows = pd.read_csv(CHURN).drop(columns="churned").head(3)
    ids = [
        p["id"]
        for _ in range(20)
        for p in service.predictions.predict(ADMIN, "churn", rows).predictions
    ]
    service.close()
    assert sorted(i for i, _, _ in _logged(service)) == sorted(ids)
    assert service.prediction_log.stats.dropped == 0


def test_a_full_buffer_drops_and_counts_instead_of_blocking(service: VigilService) -> None:
    _train(service)
    service.prediction_log.max_buffer = 5
    service.prediction_log.batch_size = 1000  # keep the writer from draining it meanwhile
    service.prediction_log.flush_interval = 3600
    service.prediction_log.start()
    rows = pd.read_csv(CHURN).drop(columns="churned").head(8)
    service.predictions.predict(ADMIN, "churn", rows)
    assert service.prediction_log.stats.dropped == 3
    service.close()
    assert len(_logged(service)) == 5


def test_a_new_deployment_is_served_once_loaded_without_waiting(service: VigilService) -> None:
    _train(service)
    _train(service, n_estimators=12)
    rows = pd.read_csv(CHURN).drop(columns="churned").head(2)
    assert service.predictions.predict(ADMIN, "churn", rows).version == 1
    service.models.deploy(ADMIN, "churn", 2)
    # The first request after the change is answered by the loaded version while v2 loads.
    first = service.predictions.predict(ADMIN, "churn", rows).version
    assert first in (1, 2)
    service.model_cache.wait_for_loads()
    assert service.predictions.predict(ADMIN, "churn", rows).version == 2


def test_deployments_made_elsewhere_are_seen_after_the_cache_expires(service: VigilService) -> None:
    _train(service)
    _train(service, n_estimators=12)
    rows = pd.read_csv(CHURN).drop(columns="churned").head(2)
    service.predictions.predict(ADMIN, "churn", rows)
    # Another replica moves production: this one only sees the database.
    service.store.deploy("default", "churn", 2, strategy="replace", weight=None, actor="other")
    service.deployments.forget("default", "churn")  # what the 1 s expiry does on its own
    service.predictions.predict(ADMIN, "churn", rows)
    service.model_cache.wait_for_loads()
    assert service.predictions.predict(ADMIN, "churn", rows).version == 2
