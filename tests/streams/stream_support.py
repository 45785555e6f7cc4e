"""What the stream tests share: a movable clock, models of every kind, pieces of a stream."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.data.loading import Dataset
from vigil.monitoring.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from vigil.security import Caller
from vigil.service import VigilService
from vigil.simulate import simulate
from vigil.streams.events import events_of as client_events
from vigil.streams.incidents import SEVERITY_ORDER
from vigil.training.trainer import TrainSpec

REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN = Caller(tenant="default", actor="test:admin", role="admin")
LABELS = ("is_anomaly", "anomaly_type")


def redis_available() -> bool:
    """Returns whether Redis answers at ``REDIS_URL``."""
    from vigil.streams.store import RedisStateStore

    try:
        return bool(RedisStateStore(REDIS_URL).client.ping())
    except Exception:
        return False


def events_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Returns a frame's rows as a client sends them (times as ISO text), labels left out."""
    return client_events(frame, LABELS)


def batch_scores(service: VigilService, name: str, frame: pd.DataFrame) -> list[float]:
    """Returns the scores of ``frame`` (labels left out) predicted as one file."""
    plain = frame.drop(columns=[c for c in LABELS if c in frame.columns])
    return [p["score"] for p in service.predictions.predict(ADMIN, name, plain).predictions]


def equality_case(service: VigilService, kind: str) -> tuple[list[dict[str, Any]], list[float]]:
    """Trains model ``kind`` on simulated ``kind`` rows; returns a test stream's events and
    their scores predicted as one file."""
    train(service, kind, simulated(kind, 600, seed=1), kind)
    test = simulated(kind, 700, seed=2)
    return events_of(test), batch_scores(service, kind, test)


def train(
    service: VigilService,
    name: str,
    frame: pd.DataFrame,
    kind: str,
    options: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Trains (and deploys) an anomaly model ``name`` on ``frame`` with ``kind`` features."""
    spec = TrainSpec(
        task="anomaly",
        target="is_anomaly" if "is_anomaly" in frame.columns else None,
        exclude=tuple(c for c in ("anomaly_type",) if c in frame.columns),
        feature_kind=kind,
        feature_options=options or {},
        params=params or {},
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


@dataclass
class Receiver:
    """A webhook receiver on loopback: the bodies it was posted, whether each was signed right."""

    url: str
    posts: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, Any], bool]]:
        """Returns the posts once ``count`` arrived (bounded wait)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.posts) >= count, timeout=timeout)
            return list(self.posts)


@contextmanager
def webhook_receiver(secret: bytes) -> Iterator[Receiver]:
    """Yields a loopback receiver that checks each post's signature with ``secret``."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signed = verify(
                secret,
                body,
                self.headers.get(TIMESTAMP_HEADER),
                self.headers.get(SIGNATURE_HEADER),
                max_age=None,
            )
            receiver = holder[0]
            with receiver.arrived:
                receiver.posts.append((json.loads(body), signed))
                receiver.arrived.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            """Keeps the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook"))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def incident_model(service: VigilService) -> tuple[dict[str, float], dict[str, float]]:
    """Trains ``sensors``, a detector on a 2-D Gaussian; returns a low-severity and a
    higher-severity point."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 2)), columns=["a", "b"])
    spec = TrainSpec(task="anomaly", algorithm="isolation_forest")
    service.training.train(ADMIN, "sensors", Dataset(frame, "a" * 64, "csv", "sensors"), spec)
    probes = [{"a": float(x), "b": float(x)} for x in np.linspace(1.5, 12, 60)]
    answers = service.predictions.predict(ADMIN, "sensors", pd.DataFrame(probes)).predictions
    flagged = [(p, a) for p, a in zip(probes, answers, strict=True) if a["is_anomaly"]]
    low = flagged[0]
    high = max(flagged, key=lambda pa: SEVERITY_ORDER.index(pa[1]["severity"]))
    if SEVERITY_ORDER.index(high[1]["severity"]) <= SEVERITY_ORDER.index(low[1]["severity"]):
        pytest.skip("the detector gives one severity to every flagged probe")
    return low[0], high[0]
