"""PostgreSQL at start: an unreachable server and a schema newer than this Vigil are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from vigil.registry.db import DatabaseUnusable, check_database, create_engine_for, upgrade


def test_an_unreachable_database_is_refused_naming_the_variable() -> None:
    engine = create_engine_for("postgresql+psycopg://vigil:secret@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnusable) as refused:
        check_database(engine, artifacts_present=True)
    assert refused.value.message.startswith(
        "Cannot reach the database postgresql+psycopg://vigil:***@127.0.0.1:1/none"
    )
    assert "check VIGIL_DATABASE_URL" in refused.value.message
    engine.dispose()


@pytest.mark.postgres
def test_a_schema_written_by_newer_code_is_refused(postgres_url: str) -> None:
    engine = create_engine_for(postgres_url)
    upgrade(engine)
    check_database(engine, artifacts_present=True)  # at head: fine
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseUnusable, match="is at migration 9999, which this Vigil does not"):
        check_database(engine, artifacts_present=True)
    engine.dispose()
