"""Where stream state lives: the database (default) or Redis (``VIGIL_STATE_URL=redis://…``).

Each batch reads a model's state, scores, and writes the state back while
holding that model's lock, so two replicas receiving batches of one stream
apply them one after the other, never both from the same old state:

- on the database the lock is the state row's (``SELECT … FOR UPDATE`` on
  PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` write transaction serialises
  writers), and the state is written in the same transaction, so what
  scoring wrote into that transaction (incidents) commits with it or not at all;
- on Redis the lock is a key with an expiry (a replica killed while holding
  it frees it after ``LOCK_SECONDS``) and the state one key. A batch costs
  three round trips, each one script: take the lock and read the revision,
  write the state (only while the lock is still this batch's) and move the
  revision on, release the lock; the state itself is read only when the
  copy kept in this process is stale.

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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    # The token of the Redis lock held (Redis store only).
    token: str | None = None


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


# Takes the lock (KEYS[1]) for token ARGV[1], expiring after ARGV[2] ms, and answers
# {1, revision (KEYS[2])}, or {0} when another holder has it.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('get', KEYS[2])}
end
return {0}
"""
# Writes the state (KEYS[2]) and moves its revision (KEYS[3]) on, only while the lock
# (KEYS[1]) is still token ARGV[1]'s: a batch whose lock expired must not overwrite
# what the next holder wrote. A new revision starts at ARGV[3].
_SAVE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('stream lock lost')
end
redis.call('set', KEYS[2], ARGV[2])
redis.call('set', KEYS[3], ARGV[3], 'NX')
return redis.call('incr', KEYS[3])
"""
# Releases the lock if it is still token ARGV[1]'s.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
# The first wait for a lock another replica holds, doubled up to the longest.
_FIRST_WAIT = 0.001
_LONGEST_WAIT = 0.05


class RedisStateStore:
    """Stream state in Redis: one key per model, its revision and its lock beside it."""

    def __init__(self, url: str, prefix: str = "vigil:streams:") -> None:
        import redis

        self.client: redis.Redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self.cache = StateCache()
        self._acquire = self.client.register_script(_ACQUIRE)
        self._save = self.client.register_script(_SAVE)
        self._release = self.client.register_script(_RELEASE)
        # How long a lock lasts when its holder dies, and how long a batch waits for one.
        self.lock_seconds = LOCK_SECONDS

    def _key(self, tenant: str, model: str) -> str:
        return f"{self.prefix}{tenant}:{model}"

    @contextmanager
    def locked(self, tenant: str, model: str) -> Iterator[Locked]:
        """Yields the model's state while holding its Redis lock."""
        key = self._key(tenant, model)
        token = secrets.token_hex(16)
        revision = self._lock(key, token, model)
        try:
            state = self.cache.take((tenant, model), revision)
            if state is None:
                payload = self.client.get(key)
                state = StreamState.from_bytes(payload if isinstance(payload, bytes) else None)
            held = Locked(state, token=token)
            yield held
            self.cache.keep((tenant, model), held)
        finally:
            self._release(keys=[key + ":lock"], args=[token])

    def _lock(self, key: str, token: str, model: str) -> int | None:
        """Takes the model's lock for ``token``; returns the stored revision (None: none yet)."""
        deadline = time.monotonic() + self.lock_seconds
        wait = _FIRST_WAIT
        milliseconds = max(1, int(self.lock_seconds * 1000))
        while True:
            answer = self._acquire(
                keys=[key + ":lock", key + ":revision"], args=[token, milliseconds]
            )
            if int(answer[0]) == 1:
                stored = answer[1] if len(answer) > 1 else None
                return int(stored) if isinstance(stored, bytes | str | int) else None
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"The stream state of {model!r} stayed locked {self.lock_seconds:g} s."
                )
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)

    def save(self, tenant: str, model: str, held: Locked) -> None:
        """Writes the state and moves its revision on, in one script (inside ``locked``).

        Raises when the lock expired meanwhile (another replica may hold it now):
        the batch fails rather than overwrite a newer state.
        """
        key = self._key(tenant, model)
        if held.token is None:
            raise RuntimeError("RedisStateStore.save must be called inside locked().")
        from redis.exceptions import ResponseError

        try:
            written = self._save(
                keys=[key + ":lock", key, key + ":revision"],
                args=[held.token, held.state.to_bytes(), first_revision()],
            )
        except ResponseError as exc:
            raise TimeoutError(
                f"The stream lock of {model!r} expired before its state was written "
                f"(held longer than {self.lock_seconds:g} s); the batch was not applied."
            ) from exc
        held.written = int(written)

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
