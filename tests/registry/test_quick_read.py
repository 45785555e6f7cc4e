"""The sqlite3 model list (``vigil models list``) answers as the registry store does, or None."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.registry import quick_read
from vigil.registry.db import create_engine_for, upgrade
from vigil.registry.entities import NewVersion
from vigil.registry.store import RegistryStore

MakeVersion = Callable[..., NewVersion]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> RegistryStore:
    """Returns a store on a migrated SQLite file (microseconds in its clock's times)."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade(engine)
    times = iter(
        datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC) + timedelta(seconds=s)
        for s in range(1000)
    )
    return RegistryStore(engine, now=lambda: next(times))


def test_it_lists_what_the_store_lists(
    sqlite_store: RegistryStore, make_version: MakeVersion
) -> None:
    for name in ("zeta", "alpha", "mid"):
        for _ in range(3):
            sqlite_store.add_version("default", name, make_version())
    sqlite_store.deploy("default", "alpha", 2, strategy="canary", weight=12.5, actor="t")
    sqlite_store.deploy("default", "mid", 3, strategy="shadow", actor="t")
    sqlite_store.deploy("default", "mid", 2, strategy="shadow", actor="t")
    sqlite_store.delete_version("default", "zeta", 3, actor="t")
    sqlite_store.add_version("other", "beta", make_version())
    url = str(sqlite_store.engine.url)

    for tenant in ("default", "other", "nobody"):
        assert quick_read.list_models(url, tenant) == sqlite_store.list_models(tenant)
    assert [m.name for m in quick_read.list_models(url, "default") or []] == [
        "alpha",
        "mid",
        "zeta",
    ]


def test_the_latest_version_is_the_newest_left_after_deletions(
    sqlite_store: RegistryStore, make_version: MakeVersion
) -> None:
    sqlite_store.add_version("default", "gone", make_version())
    sqlite_store.add_version("default", "gone", make_version())
    sqlite_store.deploy("default", "gone", 2, actor="t")
    sqlite_store.delete_version("default", "gone", 1, actor="t")
    url = str(sqlite_store.engine.url)

    assert quick_read.list_models(url, "default") == sqlite_store.list_models("default")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:vigil.db?mode=memory",
        "sqlite+pysqlite:////tmp/vigil.db",
    ],
)
def test_other_databases_are_left_to_the_service(url: str) -> None:
    assert quick_read.list_models(url, "default") is None


def test_a_missing_empty_or_damaged_file_is_left_to_the_service(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    url = f"sqlite:///{path}"
    assert quick_read.list_models(url, "default") is None
    assert not path.exists()  # read-only: nothing created

    path.write_bytes(b"")
    assert quick_read.list_models(url, "default") is None
    path.write_bytes(b"not a database" * 20)
    assert quick_read.list_models(url, "default") is None


def test_a_truncated_file_is_left_to_the_service(
    sqlite_store: RegistryStore, make_version: MakeVersion
) -> None:
    sqlite_store.add_version("default", "churn", make_version())
    sqlite_store.engine.dispose()
    path = quick_read.sqlite_file(str(sqlite_store.engine.url))
    assert path is not None
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    assert quick_read.list_models(str(sqlite_store.engine.url), "default") is None


def test_a_database_not_at_the_newest_migration_is_left_to_the_service(
    sqlite_store: RegistryStore, make_version: MakeVersion
) -> None:
    sqlite_store.add_version("default", "churn", make_version())
    url = str(sqlite_store.engine.url)
    with sqlite_store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")

    assert quick_read.list_models(url, "default") is None
