"""Migrations and engines on SQLite and PostgreSQL: upgrade, idempotence, concurrency, pragmas."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text

from vigil.registry.db import MIGRATIONS_DIR, create_engine_for, for_reading, upgrade
from vigil.registry.tables import Base

REGISTRY_TABLES = {"models", "model_versions", "deployment_events"}


def head_revision() -> str:
    """Returns the newest revision among the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """Returns the revision the database is at (None before any migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    """Returns an engine on an empty, never migrated database."""
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


def test_upgrade_brings_an_empty_database_to_head(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert set(inspect(empty_engine).get_table_names()) >= REGISTRY_TABLES


def test_a_second_upgrade_is_a_no_op_that_keeps_the_data(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO models (tenant, name, task, created_at, created_by, canary_weight,"
                " shadow_versions) VALUES ('t', 'm', 'anomaly', CURRENT_TIMESTAMP, 'x', 0, '[]')"
            )
        )
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM models")).scalars().all() == ["m"]


def test_the_migrated_schema_matches_the_table_models(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# Imports and connects first, then waits for the go line, so that both processes
# start their upgrade at the same instant.
UPGRADE_SCRIPT = """
import sys
from vigil.registry.db import create_engine_for, upgrade
engine = create_engine_for(sys.argv[1])
engine.connect().close()
sys.stdin.readline()
upgrade(engine)
"""


def test_two_processes_upgrading_at_once_both_succeed(database_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_SCRIPT, database_url],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outcomes]
    engine = create_engine_for(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_the_tables_and_upgrade_restores_them(
    empty_engine: Engine,
) -> None:
    upgrade(empty_engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not REGISTRY_TABLES & set(inspect(empty_engine).get_table_names())
    upgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) >= REGISTRY_TABLES


# --- SQLite engine settings ----------------------------------------------------------------


@pytest.fixture
def sqlite_engine(tmp_path: Any) -> Iterator[Engine]:
    """Returns an engine on a new SQLite file."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'nested' / 'vigil.db'}")
    yield engine
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
    sqlite_engine: Engine,
) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000


def test_sqlite_write_transactions_begin_immediate_and_reads_deferred(
    sqlite_engine: Engine,
) -> None:
    statements: list[str] = []

    @event.listens_for(sqlite_engine, "before_cursor_execute")
    def remember(*args: Any) -> None:
        statements.append(args[2])

    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("SELECT 1")
    with for_reading(sqlite_engine).begin() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]


def test_sqlite_write_transactions_wait_for_each_other_instead_of_failing(
    sqlite_engine: Engine,
) -> None:
    upgrade(sqlite_engine)
    other = create_engine_for(sqlite_engine.url.render_as_string(hide_password=False))
    try:
        # Each transaction reads a counter then writes it back: interleaved
        # deferred transactions would lose updates or fail with SQLITE_BUSY.
        def increment(engine: Engine) -> None:
            for _ in range(20):
                with engine.begin() as connection:
                    count = connection.execute(text("SELECT count(*) FROM models")).scalar_one()
                    connection.execute(
                        text(
                            "INSERT INTO models (tenant, name, task, created_at, created_by,"
                            " canary_weight, shadow_versions) VALUES"
                            " ('t', :name, 'anomaly', CURRENT_TIMESTAMP, 'x', 0, '[]')"
                        ),
                        {"name": f"m{count}"},
                    )

        threads = [threading.Thread(target=increment, args=(e,)) for e in (sqlite_engine, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with sqlite_engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM models")).scalars().all()
        assert sorted(names) == sorted(f"m{i}" for i in range(40))
    finally:
        other.dispose()


def test_upgrading_from_0004_keeps_a_held_lease_with_no_run_requests(empty_engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES"
                " ('scheduler', 'old-leader', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        row = connection.execute(
            text("SELECT holder, run_requests, runs_answered, last_run_by, last_report FROM leases")
        ).one()
    assert tuple(row) == ("old-leader", 0, 0, None, None)
