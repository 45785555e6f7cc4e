"""What the stream tests share: a movable clock, models of every kind, pieces of a stream."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from vigil.data.loading import Dataset
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate import simulate
from vigil.training.trainer import TrainSpec

ADMIN = Caller(tenant="default", actor="test:admin", role="admin")
LABELS = ("is_anomaly", "anomaly_type")


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def events_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Returns a frame's rows as a client sends them (times as ISO text), labels left out."""
    rows: list[dict[str, Any]] = json.loads(
        frame.drop(columns=[c for c in LABELS if c in frame.columns]).to_json(
            orient="records", date_format="iso"
        )
    )
    return rows


def train(
    service: VigilService,
    name: str,
    frame: pd.DataFrame,
    kind: str,
    options: dict[str, Any] | None = None,
) -> None:
    """Trains (and deploys) an anomaly model ``name`` on ``frame`` with ``kind`` features."""
    spec = TrainSpec(
        task="anomaly",
        target="is_anomaly" if "is_anomaly" in frame.columns else None,
        exclude=tuple(c for c in ("anomaly_type",) if c in frame.columns),
        feature_kind=kind,
        feature_options=options or {},
    )
    service.training.train(ADMIN, name, Dataset(frame, "a" * 64, "jsonl", name), spec)


def simulated(kind: str, rows: int, seed: int) -> pd.DataFrame:
    """Returns simulated labelled ``kind`` rows."""
    return simulate(kind, rows, anomaly_rate=0.05, seed=seed)


def pieces(events: list[Any], seed: int, largest: int = 60) -> list[list[Any]]:
    """Returns ``events`` cut into consecutive pieces of random sizes (1..largest)."""
    rng = random.Random(seed)
    out: list[list[Any]] = []
    start = 0
    while start < len(events):
        size = rng.randint(1, largest)
        out.append(events[start : start + size])
        start += size
    return out
