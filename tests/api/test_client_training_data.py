"""``vigil.Client.train`` against a real ``vigil serve``: every kind of training data it takes.

A local file (a path object or a string path) is uploaded first; a string
without a dot or a separator is a dataset id; a list of dicts is inline rows;
a mapping is the API's data reference as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import CHURN, churn_rows, labelled_rows

from process_support import Server
from vigil import Client

# Small forests: these tests are about where the data comes from, not the model.
SPEC: dict[str, Any] = {
    "target": "churned",
    "algorithm": "random_forest",
    "params": {"n_estimators": 10},
}


@pytest.fixture(scope="module")
def trainer(server: Server) -> Iterator[Client]:
    """Returns a Client with a trainer key of tenant default."""
    with Client(server.url, server.admin_key) as admin:
        key = admin.create_key("trainer")["key"]
    with Client(server.url, key) as client:
        yield client


def trained_version(client: Client, job: dict[str, Any]) -> dict[str, Any]:
    """Returns the version the training ``job`` made, once it has finished."""
    done = client.wait_for_job(job["id"], timeout=180)
    assert done["status"] == "succeeded", done
    return client.version(done["result"]["model"], done["result"]["version"])


def test_a_local_file_is_uploaded_and_trained_on(trainer: Client) -> None:
    from_path = trainer.train("from-path", CHURN, **SPEC)
    from_text = trainer.train("from-text", str(CHURN), **SPEC)
    fingerprint = trainer.create_dataset(path=CHURN)["fingerprint"]
    for job in (from_path, from_text):
        version = trained_version(trainer, job)
        assert version["data_fingerprint"] == fingerprint
        assert trainer.dataset(version["dataset_id"])["rows"] == 1200
    answer = trainer.predict("from-text", churn_rows(2))
    assert [p["version"] for p in answer["predictions"]] == [1, 1]


def test_a_dataset_id_rows_and_a_data_reference_are_trained_on(trainer: Client) -> None:
    stored = trainer.create_dataset(rows=labelled_rows(150), name="first 150")
    by_id = trained_version(trainer, trainer.train("from-id", stored["id"], **SPEC))
    assert by_id["dataset_id"] == stored["id"]
    from_rows = trained_version(trainer, trainer.train("from-rows", labelled_rows(120), **SPEC))
    assert trainer.dataset(from_rows["dataset_id"])["rows"] == 120
    reference = trainer.train("from-rows", data={"dataset_id": stored["id"]}, **SPEC)
    assert trained_version(trainer, reference)["version"] == 2


def test_a_missing_file_or_other_data_is_refused_before_any_request(
    trainer: Client, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        trainer.train("never", str(tmp_path / "missing.csv"), **SPEC)
    with pytest.raises(TypeError, match="a list of rows"):
        trainer.train("never", [1, 2, 3], **SPEC)  # type: ignore[list-item]
    assert "never" not in {m["name"] for m in trainer.models()}
