"""Helpers of the lifecycle tests: a movable clock, callers, small data, a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import orjson
import pandas as pd

from vigil.data.loading import Dataset
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec
from vigil.usecases.training import TrainResult

ADMIN = Caller(tenant="default", actor="test:admin", role="admin")
FEATURES = ["x1", "x2", "x3"]
# A small, fast forest: each training takes a fraction of a second.
SPEC = TrainSpec(
    task="classification",
    algorithm="random_forest",
    target="y",
    params={"n_estimators": 15, "max_depth": 6},
)


def frame(rows: int, seed: int, *, shifted: bool = False, flipped: bool = False) -> pd.DataFrame:
    """Returns labelled rows: ``y`` is ``x1 > 0``.

    ``shifted`` moves x2 into a region training never saw, where the label is
    the opposite (a model trained before the shift is wrong there, one trained
    on labelled shifted rows is right); ``flipped`` inverts every label (a
    model trained on it is wrong everywhere).
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, rows)
    x2 = rng.normal(6 if shifted else 0, 1, rows)
    x3 = rng.normal(0, 1, rows)
    y = (x1 > 0).astype(int)
    if shifted:
        y = 1 - y
    if flipped:
        y = 1 - y
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "y": y})


def train(
    service: VigilService,
    name: str,
    data: pd.DataFrame,
    *,
    caller: Caller = ADMIN,
    deploy: str = "never",
) -> TrainResult:
    """Returns a version of ``name`` trained on ``data`` (the first one becomes production)."""
    dataset = Dataset(data, f"{abs(hash(data.to_csv())):064x}"[:64], "csv", "synthetic")
    return service.training.train(caller, name, dataset, SPEC, deploy=deploy)


def traffic(
    service: VigilService,
    name: str,
    data: pd.DataFrame,
    *,
    version: int | None = None,
    feedback: bool = True,
    caller: Caller = ADMIN,
) -> list[dict[str, Any]]:
    """Returns the answers to ``data`` (sent to ``version`` if given), labelled with its ``y``."""
    instances = data[FEATURES].to_dict(orient="records")
    answers = service.predictions.predict(caller, name, instances, version=version).predictions
    if feedback:
        items = [
            {"prediction_id": a["id"], "actual": int(label)}
            for a, label in zip(answers, data["y"], strict=True)
        ]
        service.monitoring.record_feedback(caller, name, items)
    return answers


def alerts(service: VigilService, name: str, kind: str, caller: Caller = ADMIN) -> list[dict]:
    """Returns the model's alerts of ``kind``, newest first."""
    return [a for a in service.alerts.list_alerts(caller, name) if a["kind"] == kind]


def retrain_jobs(service: VigilService, caller: Caller = ADMIN) -> list[dict[str, Any]]:
    """Returns the tenant's retraining jobs, newest first."""
    return [j for j in service.jobs.list_jobs(caller) if j["kind"] == "retrain"]


def actions(reports: list[dict[str, Any]] | None, model: str) -> list[str]:
    """Returns what a tick did to ``model`` (the tick must have run)."""
    assert reports is not None, "this service should lead the scheduler"
    return next(r["actions"] for r in reports if r["model"] == model)


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Inbox:
    """What the loopback receiver got."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Inbox]]:
    """Yields the URL of a loopback HTTP server answering 200 to every POST, and its inbox."""
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with inbox.lock:
                inbox.received.append(Received(self.path, dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            """Keeps the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="test-webhook", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", inbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
