"""Two servers taking turns on one stream answer as one; a kill -9 loses nothing.

Each backend (SQLite, PostgreSQL, Redis) gets two ``vigil serve`` processes
on one database and state store. The batches of a metric stream go to
them in turn, as JSON or NDJSON; one server is killed with SIGKILL right
after answering a batch and a new one started while the other carries on
(it reads the snapshot and replays the batches logged after it). The
scores equal those of the whole series scored at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from stream_support import ADMIN, REDIS_URL, events_of, pieces, redis_available, simulated, train

from process_support import free_port, stop_server
from vigil.config import Settings
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.store import RegistryStore
from vigil.service import VigilService

ADMIN_KEY = "streams-test-admin-secret"
# How long a server may take to import, migrate and answer on a loaded machine (a bound).
START_TIMEOUT = 180.0
VIGIL_NAMES = ("VIGIL_DATABASE_URL", "VIGIL_ARTIFACT_URI", "VIGIL_SECRET_KEY", "VIGIL_STATE_URL")


def _start(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Returns the URL and process of a ``vigil serve`` just started (not yet answering)."""
    port = free_port()
    command = [sys.executable, "-m", "vigil.cli.main", "serve", "--port", str(port)]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
    return f"http://127.0.0.1:{port}", process


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path, name: str) -> None:
    """Returns once the server answers /health and has built its streams (bounded; its log
    shown if it died): the first request to reach the streams imports their libraries."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    listed = httpx.get(f"{url}/v1/models/{name}/incidents", headers=headers, timeout=START_TIMEOUT)
    assert listed.status_code == 200, listed.text


def _up(*servers: tuple[str, subprocess.Popen[bytes], Path, str]) -> Callable[[], None]:
    """Starts waiting for every server at once (threads); returns the wait for them all."""
    pool = ThreadPoolExecutor(max_workers=len(servers))
    waits = [pool.submit(_wait_up, *server) for server in servers]
    pool.shutdown(wait=False)

    def wait() -> None:
        for waiting in waits:
            waiting.result()

    return wait


@contextmanager
def _servers(env: dict[str, str]) -> Iterator[Callable[[Path], tuple[str, Any]]]:
    """Yields a function starting a server (logging to a file); all are stopped at the end.

    Servers start in the background: several start at once, and a replacement
    starts while the others carry on (each start imports and migrates for seconds).
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(log: Path) -> tuple[str, Any]:
        url, process = _start(env, log)
        started.append(process)
        return url, process

    try:
        yield start
    finally:
        for process in started:
            stop_server(process)


def _post(url: str, name: str, piece: list[dict[str, Any]], ndjson: bool) -> list[float]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    if ndjson:
        body = b"\n".join(orjson.dumps(e) for e in piece)
        headers["Content-Type"] = "application/x-ndjson"
        response = httpx.post(
            f"{url}/v1/models/{name}/events?return=all", content=body, headers=headers, timeout=60
        )
    else:
        response = httpx.post(
            f"{url}/v1/models/{name}/events?return=all",
            json={"events": piece},
            headers=headers,
            timeout=60,
        )
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["accepted"] == len(piece) and document["rejected"] == []
    return [p["score"] for p in document["predictions"]]


def _check_refusals_metrics_and_incidents(url: str, name: str, last: Any) -> None:
    """A bad NDJSON line is refused alone; /metrics counts the stream; incidents are listed."""
    later = {"timestamp": (last + pd.Timedelta(minutes=5)).isoformat(), "value": 1.0}
    later["series"] = "cpu_utilization"
    body = b"{not json\n" + orjson.dumps(later)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/x-ndjson"}
    answer = httpx.post(f"{url}/v1/models/{name}/events", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["accepted"] == 1
    assert [r["event"] for r in document["rejected"]] == [0]
    metrics = httpx.get(f"{url}/metrics", headers=headers).text
    assert f'vigil_stream_events_total{{model="{name}",tenant="default"}}' in metrics
    listed = httpx.get(f"{url}/v1/models/{name}/incidents", headers=headers)
    assert listed.status_code == 200 and listed.json()["model"] == name
    wrong = httpx.get(f"{url}/v1/models/{name}/incidents?status=closed", headers=headers)
    assert wrong.status_code == 422


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    if request.param == "redis":
        if not redis_available():
            pytest.skip("Redis is not running at 127.0.0.1:6379")
        return f"sqlite:///{tmp_path / 'vigil.db'}", REDIS_URL
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url")), None
    return f"sqlite:///{tmp_path / 'vigil.db'}", None


def test_two_servers_and_a_kill_score_a_stream_as_one_batch(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    database_url, state_url = backend
    name = f"cpu-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_SECRET_KEY": "streams-secret"}
    )
    settings = replace(settings, database_url=database_url, artifact_uri=str(tmp_path / "art"))
    engine = create_engine_for(database_url)
    upgrade(engine)
    service = VigilService(settings, RegistryStore(engine), LocalArtifactStore(tmp_path / "art"))
    train(service, name, simulated("metrics", 600, seed=1), "metrics")
    test = simulated("metrics", 300, seed=2)
    expected = [
        p["score"]
        for p in service.predictions.predict(
            ADMIN, name, test.drop(columns=["is_anomaly", "anomaly_type"])
        ).predictions
    ]
    service.close()
    engine.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_HOME=str(tmp_path / "home"),
        VIGIL_DATABASE_URL=database_url,
        VIGIL_ARTIFACT_URI=str(tmp_path / "art"),
        VIGIL_SECRET_KEY="streams-secret",
        VIGIL_ADMIN_KEY=ADMIN_KEY,
        VIGIL_SCHEDULER="0",
    )
    if state_url:
        env["VIGIL_STATE_URL"] = state_url
    batches = pieces(events_of(test), seed=7, largest=40)
    streamed: list[float] = []
    logs = [tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"]
    with _servers(env) as start:
        (first, a), (second, victim) = start(logs[0]), start(logs[1])
        _up((first, a, logs[0], name), (second, victim, logs[1], name))()
        half = len(batches) // 2
        for i, piece in enumerate(batches[:half]):
            streamed += _post((first, second)[i % 2], name, piece, ndjson=i % 3 == 0)
        # The second server dies right after answering; the first carries on alone while
        # a new one starts on the same stores.
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        restarted, process = start(logs[2])
        up = _up((restarted, process, logs[2], name))
        streamed += _post(first, name, batches[half], ndjson=False)
        up()
        for i, piece in enumerate(batches[half + 1 :]):
            streamed += _post((restarted, first)[i % 2], name, piece, ndjson=i % 2 == 0)
        _check_refusals_metrics_and_incidents(restarted, name, test["timestamp"].max())
    # The new server said what it read back: the snapshot, and the batches logged after it.
    assert f"stream state of '{name}'" in logs[2].read_text()
    if state_url:
        from vigil.streams.store import RedisStateStore

        RedisStateStore(state_url).drop("default", name)
    assert len(streamed) == len(expected)
    assert np.max(np.abs(np.asarray(streamed) - np.asarray(expected))) <= 1e-9
