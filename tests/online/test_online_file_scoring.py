"""A stored online metric model through the service: a file in chunks = the whole file at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vigil.config import Settings
from vigil.data.loading import load_dataset
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.store import RegistryStore
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

ADMIN = Caller(tenant="default", actor="test:admin", role="admin")


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[VigilService]:
    settings = Settings.from_env(
        {"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_SECRET_KEY": "s3cret"}
    )
    engine = create_engine_for(database_url)
    upgrade(engine)
    svc = VigilService(
        replace(settings, database_url=database_url),
        RegistryStore(engine),
        LocalArtifactStore(tmp_path / "artifacts"),
    )
    yield svc
    svc.close()
    engine.dispose()


def _points(rows: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    t = np.arange(rows)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=rows, freq="5min").astype(str),
            "series": np.where(t % 2 == 0, "cpu", "mem"),
            "value": 40 + 5 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, rows),
        }
    )
    frame.loc[rows // 2, "value"] += 50
    # Values with few decimals read back from a CSV exactly, whatever the float parser.
    frame["value"] = frame["value"].round(4)
    return frame


def test_a_file_scored_in_chunks_gets_the_answers_of_the_whole_file(
    service: VigilService, tmp_path: Path
) -> None:
    training = tmp_path / "train.csv"
    _points(800, "2024-01-01").to_csv(training, index=False)
    spec = TrainSpec(task="anomaly", feature_kind="metrics", params={"half_life": "50"})
    service.training.train(ADMIN, "infra", load_dataset(training), spec)
    later = _points(500, "2024-01-04")
    source = tmp_path / "later.csv"
    later.to_csv(source, index=False)
    output = tmp_path / "scored.csv"

    summary = service.predictions.predict_file(ADMIN, "infra", source, output, chunk_rows=64)

    whole = service.predictions.predict(ADMIN, "infra", later).predictions
    # round_trip: the C parser's default can miss the last bit of a written float.
    written = pd.read_csv(output, float_precision="round_trip")
    assert summary["chunks"] == 8
    assert written["score"].tolist() == [p["score"] for p in whole]
    assert written["is_anomaly"].tolist() == [p["is_anomaly"] for p in whole]
    assert whole[250]["is_anomaly"]
    # The stored model is the trained one: its state restarts each request.
    bundle = service.predictions.load_bundle(ADMIN.tenant, "infra", 1)
    answers, _ = bundle.score_in_order(later, bundle.initial_state())
    assert [a["score"] for a in answers] == [p["score"] for p in whole]
