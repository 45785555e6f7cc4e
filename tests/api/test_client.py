"""``vigil.Client`` against the in-process app: every call, errors and job waiting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import CHURN, Api, churn_rows, labelled_rows

from vigil import Client, ClientError
from vigil.client import JobTimeout


class FakeTime:
    """A clock and a sleep that advances it, so waiting takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        """Returns the current reading."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advances the clock instead of sleeping."""
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    """Returns a fresh fake clock."""
    return FakeTime()


@pytest.fixture
def client(api: Api, fake_time: FakeTime) -> Iterator[Client]:
    """Returns an admin Client speaking to the in-process app."""
    key = api.keys[("default", "admin")]
    with Client(
        "http://testserver", key, http=api.client, sleep=fake_time.sleep, clock=fake_time.clock
    ) as vigil:
        yield vigil


def test_reads(client: Client) -> None:
    assert client.health()["status"] == "ok"
    assert "random_forest" in {a["name"] for a in client.algorithms()}
    assert [m["name"] for m in client.models()] == ["churn"]
    assert client.model("churn")["production_version"] == 1
    assert [v["version"] for v in client.versions("churn")] == [1, 2, 3]
    assert client.version("churn", 2)["version"] == 2
    assert client.deployments("churn")[0]["action"] == "deploy"


def test_predict_deploy_rollback_delete(client: Client) -> None:
    answer = client.predict("churn", churn_rows(3))
    assert answer["model"] == "churn" and len(answer["predictions"]) == 3
    pinned = client.predict("churn", churn_rows(1), version=2)
    assert pinned["predictions"][0]["version"] == 2
    assert client.deploy("churn", 3, reason="try")["production_version"] == 3
    assert client.deploy("churn", 2, strategy="canary", weight=25)["canary_version"] == 2
    assert client.rollback("churn", to=1)["production_version"] == 1
    assert client.delete_version("churn", 3)["deleted_versions"] == [3]
    assert client.delete_model("churn")["deleted_versions"] == [1, 2]
    assert client.models() == []


def test_client_error_carries_the_problem_document(client: Client) -> None:
    with pytest.raises(ClientError) as missing:
        client.model("nope")
    error = missing.value
    assert error.status == 404 and error.title == "Not found"
    assert "nope" in error.detail and error.request_id
    assert error.problem["type"] == "urn:vigil:problem:not-found"
    with pytest.raises(ClientError) as invalid:
        client.predict("churn", [{"tenure_months": [1, 2]}])
    assert invalid.value.status == 422
    assert invalid.value.errors[0]["loc"] == ["body", "instances", 0, "tenure_months"]


def test_train_returns_the_job_and_wait_for_job_returns_it_finished(
    client: Client, api: Api, fake_time: FakeTime
) -> None:
    job = client.train("churn", data={"rows": labelled_rows(80)}, target="churned")
    assert job["status"] == "queued" and job["kind"] == "train"
    with pytest.raises(JobTimeout, match="still queued"):
        client.wait_for_job(job["id"], timeout=1.0, poll_interval=0.25)
    assert fake_time.slept == [0.25, 0.25, 0.25, 0.25]
    api.run_jobs()
    finished = client.wait_for_job(job["id"], timeout=1.0)
    assert finished["status"] == "succeeded"
    assert finished["result"]["version"] == 4
    assert [j["id"] for j in client.jobs()] == [job["id"]]


def test_datasets_keys_audit_and_cancel(client: Client, api: Api) -> None:
    uploaded = client.create_dataset(path=CHURN)
    assert uploaded["name"] == "churn.csv" and uploaded["rows"] == 1200
    inline = client.create_dataset(rows=[{"a": 1}, {"a": 2}], name="two")
    assert client.dataset(inline["id"])["rows"] == 2
    with pytest.raises(ValueError, match="either rows or path"):
        client.create_dataset()
    job = client.train("churn", data={"dataset_id": uploaded["id"]}, target="churned")
    assert client.cancel_job(job["id"])["status"] == "cancelled"
    key = client.create_key("viewer", tenant="acme")
    assert key["tenant"] == "acme" and key["key"].startswith("vk_")
    actions = {event["action"] for event in client.audit(limit=50)}
    assert {"dataset.create", "key.create", "job.cancel"} <= actions


def test_feedback_performance_and_drift(client: Client) -> None:
    answer = client.predict("churn", churn_rows(4))
    items = [{"prediction_id": p["id"], "actual": "no"} for p in answer["predictions"]]
    assert client.feedback("churn", items)["accepted"] == 4
    assert client.performance("churn")["production_version"] == 1
    assert client.drift("churn", version=1)["version"] == 1
