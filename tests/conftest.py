"""Databases to test on: a SQLite file, and an empty PostgreSQL schema per test.

PostgreSQL is at ``VIGIL_TEST_POSTGRES_URL`` (default: the local server with
trust auth). Without it the ``postgres`` tests skip, except under CI (env
``CI`` set), where they fail: CI must never pass by skipping them.

Each test session (each xdist worker) creates its own database and each test
gets a fresh schema in it, first on the connection's ``search_path``: creating
a database costs about a second, a schema a millisecond. Both are dropped
afterwards, so nothing is left behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _autocommit_engine(url: str) -> Engine:
    """Returns an engine that holds no connection between uses and runs DDL outside transactions."""
    return create_engine(
        url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Returns the URL of a PostgreSQL database whose user may create and drop databases."""
    url = os.environ.get("VIGIL_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    engine = _autocommit_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        message = f"PostgreSQL at {shown} is unreachable: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"{message} (set VIGIL_TEST_POSTGRES_URL to run the postgres tests)")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_session_database(postgres_admin_url: str) -> Iterator[str]:
    """Returns the URL of a database created for this test session, dropped at its end."""
    name = f"vigil_t_{uuid.uuid4().hex[:16]}"
    admin = _autocommit_engine(postgres_admin_url)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
        # FORCE ends connections a test left open (an engine it did not dispose).
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_session_database: str) -> Iterator[str]:
    """Returns the URL of a fresh, empty PostgreSQL schema (its search_path), dropped afterwards.

    Objects created without a schema name land in it. Database-wide state
    (advisory locks, LISTEN/NOTIFY channels) is shared with the other tests of
    the session, which run one after the other.
    """
    schema = f"vigil_s_{uuid.uuid4().hex[:16]}"
    admin = _autocommit_engine(postgres_session_database)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(postgres_session_database).update_query_dict(
            # application_name marks the test's connections so teardown can find them.
            {"options": f"-csearch_path={schema}", "application_name": schema}
        )
        yield url.render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Returns the URL of an empty database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigil.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Puts the files that hold a ``slow`` test first, each file's tests kept together in order.

    ``make test`` hands whole files to two workers in this order (``--dist loadfile
    --no-loadscope-reorder``): a slow file handed out last keeps one worker busy while
    the other waits at the end; handed out first, the many quick files fill in around it.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
