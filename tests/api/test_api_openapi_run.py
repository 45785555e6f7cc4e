"""Schemathesis over the whole OpenAPI document of a real server with every feature kind present.

A ``vigil serve`` process (uvicorn, jobs and scheduler off, rate limiting
off) runs over a home holding a tabular classifier and anomaly models on
logs, metrics and requests. Every operation of its ``/openapi.json`` gets
valid and invalid requests (derandomised, a bounded number per operation)
with an admin key; each request is sent as generated and again naming what
exists: each model for reads and predictions, a real version, job and
dataset. No answer may be a 5xx, carry an undeclared status or content
type, or break its declared schema. A 5xx fails with the traceback the
server logged under the request id, so the cause is in the report.

A real process rather than the ASGI app in-process: schemathesis runs an
app's lifespan itself and keeps it until the interpreter exits, which would
start the service a second time beside the test's own client.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from api_support import Api, labelled_rows, open_api
from hypothesis import HealthCheck, settings
from kind_models import KINDS, train_kind_models
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from process_support import Server, vigil_serve
from vigil.api.app import create_app
from vigil.api.settings import ApiSettings
from vigil.simulate import simulate

ADMIN_KEY = "openapi-run-admin-secret"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# "churn" is the tabular classifier of the shared trained home (versions 1 to 3);
# "sales" a forecast model (its predict body is a horizon, its feedback by time).
FORECAST = "sales"
MODELS = ("churn", *KINDS, FORECAST)
# Deletions go to a model kept for them, so the others stay for every operation after.
DOOMED = "spare"
ABSENT = "absent"


@dataclass
class Served:
    """The server under test and what exists in it."""

    server: Server
    # Path parameter -> values naming something that exists (or, for names, does not).
    existing: dict[str, tuple[Any, ...]]

    def path_variants(self, case: Any) -> list[dict[str, Any]]:
        """Returns the case's path parameters as generated, and with existing things named.

        Reads and predictions name every model, so each kind answers each of
        them; other changes name the tabular one; deletions name only the spare
        model (or a missing one), so every other model is there for every operation.
        """
        generated = dict(case.path_parameters or {})
        method = case.method.upper()
        reading = method == "GET" or case.path.endswith(("/predict", "/feedback"))
        choices = []
        for key, value in generated.items():
            named = self.existing.get(key, ())
            if key == "name" and method == "DELETE":
                named = (DOOMED, ABSENT)
            elif key == "name" and not reading:
                named = named[:1]
            choices.append([(key, v) for v in dict.fromkeys((value, *named))])
        return [dict(combination) for combination in itertools.product(*choices)]

    def logged_error(self, request_id: str) -> str:
        """Returns the traceback the server logged for ``request_id``."""
        line = self.server.wait_for_line(request_id)
        try:
            document = json.loads(line)
        except ValueError:
            return line
        return str(document.get("exc") or document)


def _home_with_every_kind(home: Path) -> dict[str, tuple[Any, ...]]:
    """Returns what the home holds after training a model of each kind (and a spare) over REST."""
    existing: dict[str, tuple[Any, ...]] = {}
    for api in open_api(home, ApiSettings()):
        existing = _train_everything(api)
    return existing


def _train_everything(api: Api) -> dict[str, tuple[Any, ...]]:
    jobs = train_kind_models(api)
    assert all(job["status"] == "succeeded" for job in jobs.values()), jobs
    sales = simulate("sales", rows=24 * 14 * 4, seed=1)
    forecast = {
        "data": {"rows": json.loads(sales.to_json(orient="records", date_format="iso"))},
        "horizon": 12,
        "series": "series",
        "target": "sales",
        "algorithm": "seasonal_naive",
        "cv": 2,
    }
    assert api.request("POST", f"/v1/models/{FORECAST}/train", json=forecast).status_code == 202
    assert api.run_jobs() == 1
    spare = {"data": {"rows": labelled_rows(200)}, "target": "churned"}
    for _ in range(2):
        assert api.request("POST", f"/v1/models/{DOOMED}/train", json=spare).status_code == 202
    assert api.run_jobs() == 2
    dataset = api.request("POST", "/v1/datasets", json={"rows": labelled_rows(5)})
    assert dataset.status_code == 201, dataset.text
    return {
        "name": (*MODELS, ABSENT),
        "version": (1,),
        "job_id": (jobs["logs"]["id"],),
        "dataset_id": (dataset.json()["id"],),
    }


@pytest.fixture(scope="module")
def served(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Returns a ``vigil serve`` process over a home with a model of every feature kind."""
    home = tmp_path_factory.mktemp("openapi-run") / "home"
    shutil.copytree(trained_home, home)
    existing = _home_with_every_kind(home)
    settings = {
        "VIGIL_RATE_LIMIT": "0",
        "VIGIL_JOB_THREADS": "0",
        "VIGIL_SCHEDULER": "0",
        "VIGIL_LOG_LEVEL": "INFO",
    }
    with vigil_serve(home, settings, admin_key=ADMIN_KEY) as server:
        assert httpx.get(f"{server.url}/openapi.json", timeout=30).json() == SCHEMA.raw_schema
        yield Served(server, existing)


# The document the server serves: built from the app, as the server builds it.
SCHEMA = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.mark.slow  # a model of every kind, then every operation over the wire
@SCHEMA.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_5xx_or_breaks_its_schema(case: Any, served: Served) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for path_parameters in served.path_variants(case):
        case.path_parameters = path_parameters
        response = case.call(base_url=served.server.url, headers=auth, timeout=60)
        if response.status_code >= 500:
            # Schemathesis gives each header as the list of its values.
            request_id = "".join(response.headers.get("x-request-id", []))
            raise AssertionError(
                f"{case.method} {case.formatted_path} answered {response.status_code}; "
                f"the server logged (request id {request_id}):\n"
                f"{served.logged_error(request_id)}"
            )
        case.validate_response(response, checks=CHECKS)
