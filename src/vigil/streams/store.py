"""Where stream state lives: the database (default) or Redis (``VIGIL_STATE_URL=redis://…``).

Each batch reads a model's state, scores, and writes the state back while
holding that model's lock, so two replicas receiving batches of one stream
apply them one after the other, never both from the same old state:

- on the database the lock is the state row's (``SELECT … FOR UPDATE`` on
  PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` write transaction serialises
  writers), and the state is written in the same transaction, so what
  scoring wrote into that transaction (incidents) commits with it or not at all;
- on Redis the lock is a Redis lock with an expiry (a replica killed while
  holding it frees it after ``LOCK_SECONDS``) and the state one key.

The state is written through at the end of every batch: a process killed
mid-stream loses at most the batch it was answering (which its client saw
fail), never a batch it answered, and never leaves a half-written state
(one row update, or one ``SET``).

Each write moves the state's revision on; a process keeps the state it
last wrote, with that revision, and reuses it when the stored revision is
still the same (no other replica wrote since), skipping the decoding of the
history. A revision starts at a random number, so a state dropped and
started again never matches a copy kept from before.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, defer

from vigil.registry.sessions import SqlStore, utc_now
from vigil.registry.tables import StreamStateRow
from vigil.streams.state import StreamState

if TYPE_CHECKING:
    import redis

# A Redis lock expires after this long, so a replica killed while holding it
# blocks the stream no longer than that.
LOCK_SECONDS = 30.0


@dataclass
class Locked:
    """A model's state read under its lock; ``session`` is the database's write session
    when the state lives there (other rows written through it commit with the state)."""

    state: StreamState
    session: Session | None = None
    # The state's row, locked (database store only).
    row: StreamStateRow | None = None
    # The revision written by ``save``, once it is.
    written: int | None = None


class StateCache:
    """The state this process last wrote per model, with its revision."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], tuple[int, StreamState]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], revision: int | None) -> StreamState | None:
        """Returns (and forgets) the kept state if it is at ``revision``.

        Taken, not shared: a batch that fails half-way leaves no altered copy behind.
        """
        with self._lock:
            kept = self._states.pop(key, None)
        if kept is None or revision is None or kept[0] != revision:
            return None
        return kept[1]

    def keep(self, key: tuple[str, str], held: Locked) -> None:
        """Keeps the state ``held`` wrote, at its new revision."""
        if held.written is not None:
            with self._lock:
                self._states[key] = (held.written, held.state)

    def forget(self, key: tuple[str, str]) -> None:
        """Drops the kept state of ``key``."""
        with self._lock:
            self._states.pop(key, None)


def first_revision() -> int:
    """Returns a new state's first revision: random, so it matches no copy of an older one."""
    return secrets.randbits(48) + 1


class StateStore(Protocol):
    """Stream state per model, read and written under a per-model lock."""

    def locked(self, tenant: str, model: str) -> Any:
        """Returns a context manager giving a :class:`Locked` state; ``save`` writes it back."""

    def save(self, tenant: str, model: str, held: Locked) -> None:
        """Writes ``held.state`` back (inside ``locked``)."""

    def drop(self, tenant: str, model: str) -> None:
        """Forgets the model's state."""


class SqlStateStore(SqlStore):
    """Stream state in the ``stream_states`` table."""

    def __init__(self, engine: Engine, now: Callable[[], datetime] = utc_now) -> None:
        super().__init__(engine, now)
        self._postgres = engine.dialect.name == "postgresql"
        self.cache = StateCache()

    @contextmanager
    def locked(self, tenant: str, model: str) -> Iterator[Locked]:
        """Yields the model's state inside a write transaction holding its row."""
        key = (tenant, model)
        with self.writing() as session:
            row = self._row_for_update(session, tenant, model)
            state = self.cache.take(key, row.revision if row else None)
            if state is None:
                # The payload is read only when the kept copy is stale (deferred column).
                state = StreamState.from_bytes(row.payload if row else None)
            held = Locked(state, session, row)
            yield held
        # Committed: the copy is as stored.
        self.cache.keep(key, held)

    def _row_for_update(self, session: Session, tenant: str, model: str) -> StreamStateRow | None:
        query = (
            select(StreamStateRow)
            .where(StreamStateRow.tenant == tenant, StreamStateRow.model == model)
            .options(defer(StreamStateRow.payload))
        )
        if self._postgres:
            # A first batch has no row to lock: insert one (or find the other
            # replica's), then lock it, so first batches are serialised too.
            from sqlalchemy.dialects.postgresql import insert

            session.execute(
                insert(StreamStateRow)
                .values(
                    tenant=tenant,
                    model=model,
                    revision=first_revision(),
                    payload=b"",
                    updated_at=self.now(),
                )
                .on_conflict_do_nothing()
            )
            query = query.with_for_update()
        return session.scalars(query).one_or_none()

    def save(self, tenant: str, model: str, held: Locked) -> None:
        """Writes the state into the transaction ``locked`` opened."""
        assert held.session is not None
        session = held.session
        row = held.row
        payload = held.state.to_bytes()
        if row is None:
            held.written = first_revision()
            session.add(
                StreamStateRow(
                    tenant=tenant,
                    model=model,
                    revision=held.written,
                    payload=payload,
                    updated_at=self.now(),
                )
            )
        else:
            row.payload = payload
            row.revision += 1
            row.updated_at = self.now()
            held.written = row.revision

    def drop(self, tenant: str, model: str) -> None:
        """Deletes the model's state row."""
        self.cache.forget((tenant, model))
        with self.writing() as session:
            row = self._row_for_update(session, tenant, model)
            if row is not None:
                session.delete(row)


class RedisStateStore:
    """Stream state in Redis: one key per model, one lock key per model."""

    def __init__(self, url: str, prefix: str = "vigil:streams:") -> None:
        import redis

        self.client: redis.Redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self.cache = StateCache()

    def _key(self, tenant: str, model: str) -> str:
        return f"{self.prefix}{tenant}:{model}"

    @contextmanager
    def locked(self, tenant: str, model: str) -> Iterator[Locked]:
        """Yields the model's state while holding its Redis lock."""
        key = self._key(tenant, model)
        lock = self.client.lock(key + ":lock", timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
        if not lock.acquire():
            raise TimeoutError(f"The stream state of {model!r} stayed locked {LOCK_SECONDS:.0f} s.")
        try:
            stored = self.client.get(key + ":revision")
            revision = int(stored) if isinstance(stored, bytes | str | int) else None
            state = self.cache.take((tenant, model), revision)
            if state is None:
                payload = self.client.get(key)
                state = StreamState.from_bytes(payload if isinstance(payload, bytes) else None)
            held = Locked(state)
            yield held
            self.cache.keep((tenant, model), held)
        finally:
            from redis.exceptions import LockError

            # A lock that expired while held is no longer ours to release.
            with suppress(LockError):
                lock.release()

    def save(self, tenant: str, model: str, held: Locked) -> None:
        """Writes the state and moves its revision on, in one transaction (inside ``locked``)."""
        key = self._key(tenant, model)
        pipeline = self.client.pipeline(transaction=True)
        pipeline.set(key, held.state.to_bytes())
        pipeline.set(key + ":revision", first_revision(), nx=True)
        pipeline.incr(key + ":revision")
        held.written = int(pipeline.execute()[-1])

    def drop(self, tenant: str, model: str) -> None:
        """Deletes the model's state key."""
        self.cache.forget((tenant, model))
        key = self._key(tenant, model)
        self.client.delete(key, key + ":revision")


def open_state_store(
    url: str | None, engine: Engine, now: Callable[[], datetime] = utc_now
) -> StateStore:
    """Returns the state store ``url`` names: Redis for ``redis://``, else the database."""
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStateStore(url)
    if url:
        raise ValueError(
            f"VIGIL_STATE_URL {url!r} is not a Redis URL (redis://host:6379/0); "
            "leave it unset to keep stream state in the database."
        )
    return SqlStateStore(engine, now)
