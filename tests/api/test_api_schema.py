"""Property-based runs: the OpenAPI document against the app, and predict against a real model.

Schemathesis generates valid and invalid requests for every operation of
``/openapi.json``; no answer may be a 500, carry an undeclared status or
content type, or break its declared schema. Runs are derandomised and
bounded, so they are repeatable and quick.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import Api, churn_rows, open_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from vigil.api.app import create_app
from vigil.api.settings import ApiSettings

# Generous limits: the run is about shapes and statuses, not about being throttled.
OPEN_LIMITS = ApiSettings(rate_limit=0)
SCHEMA = schemathesis.openapi.from_dict(create_app(settings=OPEN_LIMITS).openapi())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def open_api_(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Returns one in-process API (rate limiting off) shared by every operation's run."""
    home = tmp_path_factory.mktemp("schema") / "home"
    shutil.copytree(trained_home, home)
    yield from open_api(home, OPEN_LIMITS)


@SCHEMA.parametrize()
@BOUNDED
def test_every_operation_conforms_to_the_openapi_document(case: Any, open_api_: Api) -> None:
    response = case.call(app=open_api_.client.app, headers=open_api_.auth("admin"))
    case.validate_response(response, checks=CHECKS)


def test_openapi_and_docs_are_served(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    assert document["info"]["title"] == "Vigil"
    assert "/v1/models/{name}/predict" in document["paths"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
COLUMNS = [*churn_rows(1)[0].keys(), "extra"]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.fixed_dictionaries({}, optional={c: CELL for c in COLUMNS}), min_size=1, max_size=5
    )
)
def test_predict_on_any_rows_answers_200_or_a_422_naming_the_row(
    api: Api, rows: list[dict[str, Any]]
) -> None:
    response = api.request(
        "POST", "/v1/models/churn/predict", role="predictor", json={"instances": rows}
    )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert len(response.json()["predictions"]) == len(rows)
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"][:2] == ["body", "instances"]
