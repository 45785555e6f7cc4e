"""Shared test helpers for the service tests (a movable clock, an admin caller)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.security import Caller

ADMIN = Caller(tenant="default", actor="test:admin", role="admin")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
