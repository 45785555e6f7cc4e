"""A clock tests move by hand, injected wherever the code asks for the time.

Lives at the root of ``tests/`` (which the root ``conftest.py`` puts on the
import path) because the service, lifecycle, stream and key tests all use it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand: calling it returns the time it was last set to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
