"""The operator's VIGIL_ADMIN_KEY row, written by every process at start-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vigil.registry.keys import ENVIRONMENT_ADMIN_ID, KeyStore


def test_the_environment_key_is_created_then_replaced_when_it_changes(
    engine: Engine, clock: Callable[[], datetime]
) -> None:
    keys = KeyStore(engine, clock)
    keys.put_environment_admin("first-secret")
    assert keys.authenticate("first-secret").id == ENVIRONMENT_ADMIN_ID
    keys.put_environment_admin("second-secret")
    assert keys.authenticate("second-secret").role == "admin"
    assert keys.count() == 1


def test_a_replica_that_loses_the_race_to_create_the_row_starts_anyway(
    engine: Engine, clock: Callable[[], datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both replicas looked before either wrote: the second one's first look saw no row.
    first, second = KeyStore(engine, clock), KeyStore(engine, clock)
    first.put_environment_admin("shared-secret")
    real_get = Session.get
    looks: list[Any] = []

    def stale_first_look(session: Session, entity: Any, ident: Any, **kw: Any) -> Any:
        looks.append(ident)
        return None if len(looks) == 1 else real_get(session, entity, ident, **kw)

    monkeypatch.setattr(Session, "get", stale_first_look)
    second.put_environment_admin("shared-secret")
    monkeypatch.undo()
    assert len(looks) == 2
    assert second.authenticate("shared-secret").id == ENVIRONMENT_ADMIN_ID
    assert second.count() == 1
