"""Answers handed to the prediction log: what each prediction is logged with.

The request path only builds ``LoggedPrediction`` records around the rows and
outputs it already has; reading the inputs of a table (and of log models,
which answer per event or session) is deferred to the log's writer thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from vigil.serving.loaded import PredictInput, as_frame
from vigil.serving.prediction_log import (
    DeferredInput,
    DeferredInputs,
    LoggedPrediction,
    PredictionLog,
)


def log_answers(
    prediction_log: PredictionLog,
    *,
    tenant: str,
    name: str,
    data: PredictInput,
    predictions: list[dict[str, Any]],
    latency_us: float,
    routing_key: str | None,
    created_at: datetime,
    shadow: bool = False,
) -> None:
    """Hands the answers to the prediction log; its writer thread makes them JSON.

    Rows sent as mappings are logged as sent, one per prediction; the
    inputs of a DataFrame (and of log models, which answer per event or
    session) are read from it by the writer thread, off the request path.
    """
    if not predictions:
        return
    inputs: Sequence[Any]
    if (
        not isinstance(data, pd.DataFrame)
        and len(data) == len(predictions)
        and not any("session" in p for p in predictions)
    ):
        inputs = data
    else:
        deferred = DeferredInputs(lambda: prediction_inputs(as_frame(data), predictions))
        inputs = [DeferredInput(deferred, i) for i in range(len(predictions))]
    prediction_log.append(
        [
            LoggedPrediction(
                id=p["id"],
                tenant=tenant,
                model=name,
                version=p["version"],
                shadow=shadow,
                inputs=row,
                output={k: v for k, v in p.items() if k != "id" and k != "version"},
                latency_us=latency_us,
                created_at=created_at,
                routing_key=routing_key,
            )
            for p, row in zip(predictions, inputs, strict=True)
        ]
    )


def prediction_inputs(frame: pd.DataFrame, predictions: list[dict[str, Any]]) -> list[Any]:
    """Returns the input logged with each prediction.

    A row per prediction for tables; for raw log lines the line an event came
    from; for sessions, which have no single input row, the session key.

    >>> frame = pd.DataFrame({"line": ["a", "b"]})
    >>> prediction_inputs(frame, [{"line": 2, "session": "s1"}])
    [{'line': 'b'}]
    """
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    if len(rows) == len(predictions) and not any("session" in p for p in predictions):
        return list(rows)
    inputs: list[Any] = []
    for p in predictions:
        line = p.get("line")
        if isinstance(line, int) and 0 < line <= len(rows):
            inputs.append(rows[line - 1])
        else:
            inputs.append({"session": p.get("session")})
    return inputs
