"""URL sources only for allow-listed public hosts; SQL only through configured queries."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from service_support import ADMIN

from vigil.data.sources import check_url, run_named_query
from vigil.errors import InvalidInput
from vigil.service import VigilService


def test_url_sources_are_off_without_an_allow_list() -> None:
    with pytest.raises(InvalidInput, match="disabled"):
        check_url("https://example.com/data.csv", ())


def test_a_host_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not in the server's URL allow-list"):
        check_url("https://evil.example/data.csv", ("data.example",))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x.csv", "http://localhost/x.csv"])
def test_loopback_is_refused_even_when_allow_listed(url: str) -> None:
    host = url.split("/")[2].split(":")[0]
    with pytest.raises(InvalidInput, match="internal address"):
        check_url(url, (host,))


def test_a_url_source_pointing_at_loopback_is_refused_at_submit(service: VigilService) -> None:
    service.datasets.settings = replace(service.settings, url_allowlist=("127.0.0.1",))
    with pytest.raises(InvalidInput, match="internal address"):
        service.training.submit_training(
            ADMIN, "m", {"data": {"url": "http://127.0.0.1:9/data.csv"}}
        )
    assert service.jobs.list_jobs(ADMIN) == []


def test_non_http_schemes_are_refused() -> None:
    with pytest.raises(InvalidInput, match="must be http or https"):
        check_url("file:///etc/passwd", ("localhost",))


@pytest.fixture
def sales_db(tmp_path: Path) -> dict[str, object]:
    url = f"sqlite:///{tmp_path / 'sales.db'}"
    frame = pd.DataFrame(
        {"day": ["2024-01-01", "2024-01-02", "2024-01-03"], "amount": [1.0, 2.0, 3.0]}
    )
    frame.to_sql("sales", url, index=False)
    return {"sales": {"url": url, "queries": {"since": "SELECT * FROM sales WHERE day >= :day"}}}


def test_a_configured_query_runs_with_bound_parameters(sales_db: dict[str, object]) -> None:
    frame = run_named_query(sales_db, "sales", "since", {"day": "2024-01-02"})
    assert frame["amount"].tolist() == [2.0, 3.0]


def test_an_injection_attempt_is_just_a_value(sales_db: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="returned no rows"):
        run_named_query(sales_db, "sales", "since", {"day": "x' OR '1'='1"})


def test_a_statement_that_was_not_configured_cannot_run(sales_db: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="Unknown query 'DROP TABLE sales'"):
        run_named_query(sales_db, "sales", "DROP TABLE sales", {})
    with pytest.raises(InvalidInput, match="Unknown SQL connection 'prod'"):
        run_named_query(sales_db, "prod", "since", {"day": "x"})


def test_sql_source_trains_through_a_job(
    service: VigilService, sales_db: dict[str, object]
) -> None:
    service.datasets.settings = replace(service.settings, sql_sources=sales_db)
    job = service.training.submit_training(
        ADMIN,
        "sales",
        {
            "data": {
                "sql": {"connection": "sales", "query": "since", "params": {"day": "2024-01-01"}}
            },
            "task": "anomaly",
            "algorithm": "isolation_forest",
        },
    )
    service.jobs.run_pending_jobs()
    done = service.jobs.get_job(ADMIN, job["id"])
    assert done["status"] == "succeeded", done["error"]
