"""Fixtures: a home with one small model of every kind, and one real ``vigil serve`` over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hardening_support import ADMIN_KEY, KindModel

from process_support import Server, vigil_serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _plain_rows(frame: pd.DataFrame, count: int) -> list[dict[str, Any]]:
    head = frame.head(count).astype(object)
    rows: list[dict[str, Any]] = head.where(head.notna(), None).to_dict(orient="records")
    return [{k: (str(v) if isinstance(v, pd.Timestamp) else v) for k, v in r.items()} for r in rows]


@pytest.fixture(scope="session")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[KindModel]]:
    """Returns a VIGIL_HOME holding a small model of each kind, and sample rows for each."""
    from vigil.config import Settings
    from vigil.data.loading import load_dataset
    from vigil.security import Caller
    from vigil.service import VigilService
    from vigil.simulate import simulate
    from vigil.training.trainer import TrainSpec

    home = tmp_path_factory.mktemp("kinds") / "home"
    service = VigilService.from_settings(Settings.from_env({"VIGIL_HOME": str(home)}))
    caller = Caller(actor="test:setup")
    churn = load_dataset(EXAMPLES / "churn.csv")
    churn = replace(churn, frame=churn.frame.head(200))
    labels = ["is_anomaly", "anomaly_type"]
    plans: list[tuple[str, Any, TrainSpec, pd.DataFrame]] = [
        (
            "classifier",
            churn,
            TrainSpec(target="churned", algorithm="random_forest", params={"n_estimators": 5}),
            churn.frame.drop(columns=["churned"]),
        ),
        (
            "regressor",
            churn,
            TrainSpec(target="monthly_spend", algorithm="linear_regression", exclude=("churned",)),
            churn.frame.drop(columns=["churned", "monthly_spend"]),
        ),
        (
            "clusters",
            churn,
            TrainSpec(task="clustering", algorithm="kmeans", exclude=("churned",)),
            churn.frame.drop(columns=["churned"]),
        ),
        (
            "outliers",
            churn,
            TrainSpec(task="anomaly", exclude=("churned",)),
            churn.frame.drop(columns=["churned"]),
        ),
    ]
    for kind, count in (("metrics", 300), ("requests", 200), ("logs", 200)):
        frame = simulate(kind, count, seed=3)
        data = replace(churn, frame=frame, source=f"simulated {kind}")
        spec = TrainSpec(task="anomaly", target="is_anomaly", feature_kind=kind)
        plans.append((f"events-{kind}", data, spec, frame.drop(columns=labels)))
    models = []
    for name, data, spec, sample in plans:
        service.training.train(caller, name, data, spec, deploy="always")
        models.append(KindModel(name, _plain_rows(sample, 3)))
    service.close()
    service.store.engine.dispose()
    return home, models


@pytest.fixture(scope="session")
def kinds_server(models_home: tuple[Path, list[KindModel]]) -> Iterator[Server]:
    """Returns one real server over the home with every kind of model."""
    home, _ = models_home
    settings = {"VIGIL_SCHEDULER": "0", "VIGIL_RATE_LIMIT": "0"}
    with vigil_serve(home, settings, admin_key=ADMIN_KEY) as running:
        yield running
