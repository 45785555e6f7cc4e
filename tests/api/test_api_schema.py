"""The OpenAPI document and docs are served; predict holds against generated rows.

Every operation of the document is run against a real server by
``test_api_openapi_run.py``; here a property-based run sends generated rows
to a real model's predict. Runs are derandomised and bounded.
"""

from __future__ import annotations

from typing import Any

from api_support import Api, churn_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


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
