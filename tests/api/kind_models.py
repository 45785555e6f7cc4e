"""Anomaly models of every extracted feature kind, trained over REST on simulated JSON events.

What tests import by name: the kinds, the simulated rows as a client sends
them (timestamps as ISO text), and ``train_kind_models`` which trains one
model per kind through ``POST /v1/models/{name}/train`` and runs the jobs.
"""

from __future__ import annotations

import json
from typing import Any

from api_support import Api

from vigil.simulate import simulate

KINDS = ("logs", "metrics", "requests")
# Enough events for a split with anomalies on both sides, few enough to train in seconds.
TRAIN_ROWS = {"logs": 600, "metrics": 600, "requests": 400}


def simulated_rows(kind: str, rows: int, seed: int = 1) -> list[dict[str, Any]]:
    """Returns ``rows`` simulated ``kind`` events as JSON objects, labels included."""
    frame = simulate(kind, rows, anomaly_rate=0.05, seed=seed)
    events: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return events


def unlabelled(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Returns the events without the simulators' label columns, as production sends them."""
    return [
        {k: v for k, v in event.items() if k not in ("is_anomaly", "anomaly_type")}
        for event in events
    ]


def train_body(kind: str) -> dict[str, Any]:
    """Returns the REST train body of an anomaly model on ``kind`` events, scored by the label."""
    return {
        "data": {"rows": simulated_rows(kind, TRAIN_ROWS[kind])},
        "task": "anomaly",
        "features": kind,
        "target": "is_anomaly",
        "exclude": ["anomaly_type"],
    }


def train_kind_models(api: Api) -> dict[str, dict[str, Any]]:
    """Returns the finished training job of a model named after each kind, trained over REST."""
    submitted = {}
    for kind in KINDS:
        response = api.request(
            "POST", f"/v1/models/{kind}/train", role="trainer", json=train_body(kind)
        )
        assert response.status_code == 202, response.text
        submitted[kind] = response.json()["job_id"]
    api.run_jobs()
    return {
        kind: api.request("GET", f"/v1/jobs/{job_id}", role="viewer").json()
        for kind, job_id in submitted.items()
    }
