"""Managed sessions shared by the smaller stores (keys, audit, jobs, datasets)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vigil.registry.db import for_reading


def utc_now() -> datetime:
    """Returns the current time, aware, in UTC."""
    return datetime.now(UTC)


class SqlStore:
    """A store over one engine: write sessions (serialised on SQLite) and read sessions."""

    def __init__(self, engine: Engine, now: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.now = now
        self._write_sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(for_reading(engine), expire_on_commit=False)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """Yields a session in a write transaction, committed on success."""
        with self._write_sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Yields a session for reads only."""
        with self._read_sessions() as session:
            yield session
