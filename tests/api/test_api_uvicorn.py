"""Against a real ``vigil serve --workers 2`` process over TCP.

The whole flow (upload, train, job, predict, deploy, rollback) through the
Python client; concurrent deploys; errors, request ids, logs and limits as
they look on the wire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_support import CHURN, REPLICA_FOLLOW_SECONDS, churn_rows

from process_support import Server, eventually
from vigil import Client, ClientError


@pytest.fixture(scope="module")
def keys(server: Server) -> dict[str, str]:
    """Returns a key per role of tenant default, created through the API."""
    with Client(server.url, server.admin_key) as admin:
        created = {role: admin.create_key(role)["key"] for role in ("viewer", "predictor")}
        created["trainer"] = admin.create_key("trainer")["key"]
    created["admin"] = server.admin_key
    return created


@pytest.mark.slow  # the module starts vigil serve --workers 2
def test_train_job_predict_deploy_rollback_end_to_end(server: Server, keys: dict[str, str]) -> None:
    trainer = Client(server.url, keys["trainer"])
    predictor = Client(server.url, keys["predictor"])
    with trainer, predictor:
        dataset = trainer.create_dataset(path=CHURN, name="churn history")
        assert dataset["rows"] == 1200
        spec: dict[str, Any] = {
            "target": "churned",
            "algorithm": "random_forest",
            "params": {"n_estimators": 10},
        }
        first = trainer.train("e2e", data={"dataset_id": dataset["id"]}, **spec)
        assert first["status"] in ("queued", "running", "succeeded")
        done = trainer.wait_for_job(first["id"], timeout=120)
        assert done["status"] == "succeeded", done
        assert done["result"]["model"] == "e2e" and done["result"]["version"] == 1

        answer = predictor.predict("e2e", churn_rows(3))
        assert [p["version"] for p in answer["predictions"]] == [1, 1, 1]

        second = trainer.train("e2e", data={"dataset_id": dataset["id"]}, **spec)
        assert trainer.wait_for_job(second["id"], timeout=120)["status"] == "succeeded"
        assert [v["version"] for v in trainer.versions("e2e")] == [1, 2]
        assert trainer.model("e2e")["production_version"] == 1

        assert trainer.deploy("e2e", 2, reason="challenger")["production_version"] == 2
        assert served_version(predictor, "e2e", expected=2) == 2
        assert trainer.rollback("e2e", reason="regression")["production_version"] == 1
        assert served_version(predictor, "e2e", expected=1) == 1

        history = trainer.deployments("e2e")
        assert [(e["action"], e["version"]) for e in history] == [
            ("deploy", 1),
            ("deploy", 2),
            ("rollback", 1),
        ]
        assert [j["id"] for j in trainer.jobs()][:2] == [second["id"], first["id"]]


def served_version(client: Client, name: str, *, expected: int) -> int:
    """Returns the version answering predictions once every worker follows (or the last seen)."""

    def answered() -> int:
        # Several requests, so that each worker process is likely to answer one.
        versions = {
            p["version"]
            for _ in range(4)
            for p in client.predict(name, churn_rows(1))["predictions"]
        }
        return versions.pop() if len(versions) == 1 else -1

    return eventually(answered, lambda v: v == expected, REPLICA_FOLLOW_SECONDS)


def _deploy_concurrently(server: Server, key: str, versions: tuple[int, int]) -> list[int]:
    """Deploys each version from its own thread and connection, released together."""
    barrier = threading.Barrier(len(versions))
    statuses: list[int] = []

    def deploy(version: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            barrier.wait()
            response = http.post(
                "/v1/models/churn/deploy",
                json={"version": version},
                headers={"Authorization": f"Bearer {key}"},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=deploy, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_concurrent_deploys_leave_one_production_and_both_events_in_order(
    server: Server, keys: dict[str, str]
) -> None:
    with Client(server.url, keys["trainer"]) as client:
        for _ in range(5):
            client.deploy("churn", 1, reason="reset")
            before = len(client.deployments("churn"))
            assert _deploy_concurrently(server, keys["trainer"], (2, 3)) == [200, 200]
            model = client.model("churn")
            events = client.deployments("churn")[before:]
            assert [e["action"] for e in events] == ["deploy", "deploy"]
            assert sorted(e["version"] for e in events) == [2, 3]
            # Each change saw the one before it: the history is a chain, not a race.
            assert events[0]["previous_version"] == 1
            assert events[1]["previous_version"] == events[0]["version"]
            assert model["production_version"] == events[1]["version"]
        with Client(server.url, keys["predictor"]) as predictor:
            production = model["production_version"]
            assert served_version(predictor, "churn", expected=production) == production


def test_errors_are_problems_on_the_wire_with_a_request_id(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        missing = http.get("/v1/nothing", headers={"X-Request-ID": "wire-404"})
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["x-request-id"] == "wire-404"
        assert missing.json()["request_id"] == "wire-404"
        wrong = http.delete("/health")
        assert wrong.status_code == 405 and wrong.json()["status"] == 405
        anonymous = http.get("/v1/models")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"


def test_access_logs_are_json_lines_with_the_request_id(
    server: Server, keys: dict[str, str]
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.get(
            "/v1/models/churn",
            headers={"Authorization": f"Bearer {keys['viewer']}", "X-Request-ID": "log-probe-1"},
        )
    line = json.loads(server.wait_for_line('"request_id":"log-probe-1"'))
    assert line["logger"] == "vigil.access"
    assert line["route"] == "/v1/models/{name}" and line["status"] == 200
    assert line["key_id"] == keys["viewer"].split("_")[1]
    assert keys["viewer"] not in "\n".join(server.log_lines())


def test_body_over_the_limit_is_413_on_the_wire(server: Server, keys: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {keys['trainer']}"}
    big = {"name": "big", "rows": [{"text": "x" * 1000}] * 1100}  # ~1.1 MB, limit is 1 MiB
    with httpx.Client(base_url=server.url, timeout=30) as http:
        declared = http.post("/v1/datasets", json=big, headers=headers)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "rows": ['
        for _ in range(1100):
            yield b'{"text": "' + b"y" * 1000 + b'"},'
        yield b'{"text": "z"}]}'

    with httpx.Client(base_url=server.url, timeout=30) as http:
        streamed = http.post(
            "/v1/datasets",
            content=chunks(),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413


def test_openapi_docs_and_metrics_are_served(server: Server, keys: dict[str, str]) -> None:
    with Client(server.url, keys["predictor"]) as client:
        client.predict("churn", churn_rows(2))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert "/v1/models/{name}/deploy" in http.get("/openapi.json").json()["paths"]
        assert http.get("/docs").status_code == 200
        # Two workers each keep their own counters; one of them answered the scrape.
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        text = http.get("/metrics", headers=admin).text
        assert "vigil_http_requests_total" in text
        assert "vigil_http_request_duration_seconds_bucket" in text


def test_client_error_carries_the_problem(server: Server, keys: dict[str, str]) -> None:
    with Client(server.url, keys["viewer"]) as client, pytest.raises(ClientError) as refused:
        client.deploy("churn", 2)
    assert refused.value.status == 403
    assert refused.value.problem["title"] == "Forbidden"
    assert refused.value.request_id


def test_serve_json_prints_one_start_up_document(server: Server) -> None:
    assert server.summary == {"url": server.url, "workers": 2, "admin_key": None}
