"""Where stream state lives: the database (default) or Redis (``VIGIL_STATE_URL=redis://…``).

The state stays in the process that scores (``StateCache``, keyed by the
stored revision); a batch persists only what is new:

- each answered batch is appended to the model's log (:mod:`vigil.streams.journal`:
  the events it accepted and how it was asked, a few kilobytes) and the
  revision moves on, in the same write as the lock check;
- a snapshot (the whole ``StreamState``) is written instead at most once per
  ``SNAPSHOT_SECONDS`` (1 s, the flush interval) per process, once the log's
  bytes reach ``LOG_SHARE`` of the snapshot's (so a week of metric points is
  not rewritten for each slow single event), or when the log holds more than
  ``LOG_EVENTS`` events, or when there is no snapshot yet, or when the last
  snapshot was no larger than the entry (a log window shorter than a batch);
  it empties the log.

A process whose copy is older than the stored revision (another replica
wrote) replays the entries logged after its copy through the scorer (the
``replay`` callable ``locked`` is given, :mod:`vigil.streams.replay`); one
with no copy (just started, or after a failed batch) reads the snapshot and
replays the whole log. Every answered batch is in the snapshot or the log
before its answer leaves, so a process killed mid-stream loses no answered
batch (the one it was answering failed for its client, and left nothing
half-written: one transaction, or one script); the log line says what was
read back.

Per-stream ordering holds across replicas because a batch runs under the
model's lock, from the read to the write:

- on the database the lock is the state row's (``SELECT … FOR UPDATE`` on
  PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` write transaction serialises
  writers), and the log entry or snapshot is written in that transaction,
  so what scoring wrote into it (incidents) commits with it or not at all;
- on Redis the lock is a key with an expiry (a replica killed while holding
  it frees it after ``LOCK_SECONDS``). A batch costs two round trips, each
  one script: take the lock and read the revision (with the entries after
  the caller's copy, or the snapshot and the log, when that copy is stale);
  then, only while the lock is still this batch's, append the entry (or
  write the snapshot), move the revision on and — when nothing else is
  written under the lock — release it.

Within a process, batches of one model queue on a thread lock first, so
they never poll the shared lock against each other. A revision starts at a
random number, so a state dropped and started again never matches a copy
kept from before.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, defer

from vigil.errors import Busy
from vigil.registry.sessions import SqlStore, utc_now
from vigil.registry.tables import StreamLogRow, StreamStateRow
from vigil.streams.journal import LoggedBatch
from vigil.streams.state import StreamState

if TYPE_CHECKING:
    import redis

log = logging.getLogger("vigil.streams")

# A Redis lock expires after this long, so a replica killed while holding it
# blocks the stream no longer than that.
LOCK_SECONDS = 30.0
# A snapshot is written at most this often per process and model (the flush interval).
SNAPSHOT_SECONDS = 1.0
# ... and only once the log's bytes reach this share of the snapshot's, so snapshots cost
# at most a few times what the log does (a slow stream of a week of points logs for long);
LOG_SHARE = 0.25
# or once the log holds this many events, bounding what a reader replays.
LOG_EVENTS = 20_000

# What brings a stale copy up to date: the state and the batches logged after it.
Replayer = Callable[[StreamState, list[LoggedBatch]], StreamState]


@dataclass(frozen=True)
class Since:
    """What a model's log holds since its snapshot, as this process knows it."""

    events: int = 0
    bytes: int = 0
    # The snapshot's size, and when this process last wrote or read it (monotonic seconds).
    snapshot_bytes: int = 0
    at: float = 0.0

    def plus(self, entries: list[LoggedBatch], size: int) -> Since:
        """Returns what the log holds once ``entries`` (``size`` bytes) are appended."""
        events = self.events + sum(len(e.records) for e in entries)
        return replace(self, events=events, bytes=self.bytes + size)


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
    # The token of the Redis lock held (Redis store only), and whether ``save`` freed it.
    token: str | None = None
    released: bool = False
    # The stored revision read (None: nothing stored yet), the snapshot's, and what the
    # log holds since that snapshot.
    revision: int | None = None
    snapshot_revision: int | None = None
    since: Since = field(default_factory=Since)
    # The state object as read: a caller that replaces it starts a new stream (snapshot).
    read: StreamState | None = field(default=None, repr=False)


@dataclass
class Kept:
    """The state this process last wrote for a model, and what it knew of the store then."""

    revision: int
    state: StreamState
    snapshot_revision: int
    since: Since


class StateCache:
    """The state this process last wrote per model, with its revision."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], Kept] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str]) -> Kept | None:
        """Returns (and forgets) the kept state of ``key``, whatever its revision.

        Taken, not shared: a batch that fails half-way leaves no altered copy behind.
        """
        with self._lock:
            return self._kept.pop(key, None)

    def keep(self, key: tuple[str, str], held: Locked) -> None:
        """Keeps the state ``held`` wrote, at its new revision."""
        if held.written is None or held.snapshot_revision is None:
            return
        kept = Kept(held.written, held.state, held.snapshot_revision, held.since)
        with self._lock:
            self._kept[key] = kept

    def forget(self, key: tuple[str, str]) -> None:
        """Drops the kept state of ``key``."""
        with self._lock:
            self._kept.pop(key, None)


class KeyLocks:
    """One thread lock per model, so this process's batches of a model queue in turn."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def of(self, key: tuple[str, str]) -> threading.Lock:
        """Returns the lock of ``key``."""
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())


def first_revision() -> int:
    """Returns a new state's first revision: random, so it matches no copy of an older one."""
    return secrets.randbits(48) + 1


class StateStore(Protocol):
    """Stream state per model, read and written under a per-model lock."""

    def locked(self, tenant: str, model: str, replay: Replayer | None = None) -> Any:
        """Returns a context manager giving a :class:`Locked` state; ``save`` writes it back."""

    def save(
        self,
        tenant: str,
        model: str,
        held: Locked,
        logged: LoggedBatch | None = None,
        *,
        release: bool = False,
    ) -> None:
        """Writes ``held``'s batch back (inside ``locked``): its log entry, or a snapshot."""

    def drop(self, tenant: str, model: str) -> None:
        """Forgets the model's state."""


class Snapshots:
    """When a batch writes a snapshot rather than its log entry (see the module docstring)."""

    def __init__(
        self,
        seconds: float = SNAPSHOT_SECONDS,
        log_events: int = LOG_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.log_events = log_events
        self.clock = clock
        # Who writes the entries this process logs (a recovery names whose batches it read).
        self.writer = f"{os.getpid()}-{secrets.token_hex(4)}"

    def payload(self, held: Locked, logged: LoggedBatch | None) -> tuple[bool, bytes]:
        """Returns whether ``held``'s batch writes a snapshot, and the bytes it writes."""
        if logged is not None:
            logged.writer = self.writer
            entry = logged.to_bytes()
            since = held.since
            if not (
                held.revision is None
                or held.snapshot_revision is None
                or held.state is not held.read
                or since.events + len(logged.records) > self.log_events
                # A state no larger than the entry (a short log window) is cheaper whole.
                or len(entry) >= since.snapshot_bytes
                or (
                    self.clock() - since.at >= self.seconds
                    and since.bytes + len(entry) >= since.snapshot_bytes * LOG_SHARE
                )
            ):
                return False, entry
        return True, held.state.to_bytes()

    def wrote(
        self, held: Locked, written: int, snapshot: bool, payload: bytes, logged: LoggedBatch | None
    ) -> None:
        """Records in ``held`` what its save wrote at revision ``written``: ``payload``, a
        snapshot or ``logged``'s entry."""
        held.written = written
        if snapshot:
            held.snapshot_revision = written
            held.since = Since(snapshot_bytes=len(payload), at=self.clock())
        elif logged is not None:
            held.since = held.since.plus([logged], len(payload))


def _entries(payloads: list[bytes], model: str) -> tuple[list[LoggedBatch], int]:
    """Returns the logged batches stored as ``payloads`` (unreadable ones are logged as
    lost), and the bytes of them all."""
    entries = []
    for payload in payloads:
        try:
            entries.append(LoggedBatch.from_bytes(payload))
        except (ValueError, TypeError) as exc:
            log.error(
                "stream log of %r: a logged batch could not be read (%s); its events are "
                "lost from the history",
                model,
                exc,
            )
    return entries, sum(len(p) for p in payloads)


def _caught_up(
    state: StreamState, entries: list[LoggedBatch], replay: Replayer | None, model: str
) -> StreamState:
    """Returns ``state`` after ``entries``, replayed."""
    if not entries:
        return state
    if replay is None:
        raise RuntimeError(f"The stream state of {model!r} has logged batches to replay.")
    return replay(state, entries)


def _recovered(model: str, revision: int, entries: list[LoggedBatch], writer: str) -> None:
    """Logs what a process read back with no copy of its own (a start, a restart, a crash)."""
    if not entries:
        log.info("stream state of %r read from its snapshot (revision %d)", model, revision)
        return
    others = sum(1 for e in entries if e.writer != writer)
    log.info(
        "stream state of %r recovered: snapshot plus %d logged batches (%d events, %d written "
        "by other or earlier processes) replayed up to revision %d; no answered batch lost",
        model,
        len(entries),
        sum(len(e.records) for e in entries),
        others,
        revision,
    )


class SqlStateStore(SqlStore):
    """Stream state in the ``stream_states`` table (snapshot) and ``stream_log`` (the log)."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime] = utc_now,
        snapshots: Snapshots | None = None,
    ) -> None:
        super().__init__(engine, now)
        self._postgres = engine.dialect.name == "postgresql"
        self.cache = StateCache()
        self.snapshots = snapshots or Snapshots()
        self._locks = KeyLocks()

    @contextmanager
    def locked(self, tenant: str, model: str, replay: Replayer | None = None) -> Iterator[Locked]:
        """Yields the model's state inside a write transaction holding its row."""
        key = (tenant, model)
        with self._locks.of(key), self.writing() as session:
            row = self._row_for_update(session, tenant, model)
            held = self._read(session, row, self.cache.take(key), replay, model)
            yield held
        # Committed: the copy is as stored.
        self.cache.keep(key, held)

    def _read(
        self,
        session: Session,
        row: StreamStateRow | None,
        kept: Kept | None,
        replay: Replayer | None,
        model: str,
    ) -> Locked:
        """Returns the state at the row's revision: the kept copy, caught up, or read back."""
        if row is None:
            return self._held(StreamState(), session, None, None, Since())
        stored, snapshot = row.revision, row.snapshot_revision
        if kept is not None and kept.revision == stored:
            return self._held(kept.state, session, row, snapshot, kept.since)
        if kept is not None and snapshot is not None and snapshot <= kept.revision < stored:
            # Another replica wrote since: replay only what it logged after our copy.
            entries, size = self._logged(session, row, kept.revision, model)
            state = _caught_up(kept.state, entries, replay, model)
            return self._held(state, session, row, snapshot, kept.since.plus(entries, size))
        # No copy here: the snapshot (payload read only now: a deferred column) and the log.
        payload = row.payload
        state = StreamState.from_bytes(payload)
        entries, size = self._logged(
            session, row, snapshot if snapshot is not None else stored, model
        )
        state = _caught_up(state, entries, replay, model)
        _recovered(model, stored, entries, self.snapshots.writer)
        since = Since(snapshot_bytes=len(payload), at=self.snapshots.clock()).plus(entries, size)
        return self._held(state, session, row, snapshot or stored, since)

    @staticmethod
    def _held(
        state: StreamState,
        session: Session,
        row: StreamStateRow | None,
        snapshot: int | None,
        since: Since,
    ) -> Locked:
        return Locked(
            state,
            session,
            row,
            revision=row.revision if row is not None else None,
            snapshot_revision=snapshot,
            since=since,
            read=state,
        )

    def _logged(
        self, session: Session, row: StreamStateRow, after: int, model: str
    ) -> tuple[list[LoggedBatch], int]:
        """Returns the batches logged after revision ``after``, checked to reach the row's."""
        found = session.execute(
            select(StreamLogRow.revision, StreamLogRow.payload)
            .where(
                StreamLogRow.tenant == row.tenant,
                StreamLogRow.model == row.model,
                StreamLogRow.revision > after,
            )
            .order_by(StreamLogRow.revision)
        ).all()
        revisions = [int(r.revision) for r in found]
        if revisions != list(range(after + 1, row.revision + 1)):
            log.error(
                "stream log of %r holds revisions %s after %d, not every one up to %d; the "
                "history misses the batches between",
                model,
                revisions[:5],
                after,
                row.revision,
            )
        return _entries([bytes(r.payload) for r in found], model)

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

            revision = first_revision()
            session.execute(
                insert(StreamStateRow)
                .values(
                    tenant=tenant,
                    model=model,
                    revision=revision,
                    snapshot_revision=revision,
                    payload=b"",
                    updated_at=self.now(),
                )
                .on_conflict_do_nothing()
            )
            query = query.with_for_update()
        return session.scalars(query).one_or_none()

    def save(
        self,
        tenant: str,
        model: str,
        held: Locked,
        logged: LoggedBatch | None = None,
        *,
        release: bool = False,
    ) -> None:
        """Writes the batch into the transaction ``locked`` opened: its log entry, or a
        snapshot (``release`` is for Redis: the transaction ends with ``locked``)."""
        assert held.session is not None
        session = held.session
        row = held.row
        snapshot, payload = self.snapshots.payload(held, logged)
        if row is None:
            written = first_revision()
            session.add(
                StreamStateRow(
                    tenant=tenant,
                    model=model,
                    revision=written,
                    snapshot_revision=written,
                    payload=payload,
                    updated_at=self.now(),
                )
            )
        else:
            written = row.revision + 1
            if snapshot:
                row.payload = payload
                row.snapshot_revision = written
                session.execute(
                    delete(StreamLogRow).where(
                        StreamLogRow.tenant == tenant, StreamLogRow.model == model
                    )
                )
            else:
                if row.snapshot_revision is None:
                    # A state written before the log existed: its own snapshot.
                    row.snapshot_revision = row.revision
                session.add(
                    StreamLogRow(
                        tenant=tenant,
                        model=model,
                        revision=written,
                        payload=payload,
                        created_at=self.now(),
                    )
                )
            row.revision = written
            row.updated_at = self.now()
        self.snapshots.wrote(held, written, snapshot, payload, logged)

    def drop(self, tenant: str, model: str) -> None:
        """Deletes the model's state row and log."""
        self.cache.forget((tenant, model))
        with self.writing() as session:
            row = self._row_for_update(session, tenant, model)
            if row is not None:
                session.delete(row)
            session.execute(
                delete(StreamLogRow).where(
                    StreamLogRow.tenant == tenant, StreamLogRow.model == model
                )
            )


# Takes the lock (KEYS[1]) for token ARGV[1], expiring after ARGV[2] ms; answers {0} when
# another holder has it, {1} when nothing is stored, else {1, revision (KEYS[2]), snapshot
# revision (KEYS[3]; the revision for a state stored before the log existed), and then:
# nothing when the revision is the caller's copy's (ARGV[3]); 1 and the entries logged
# after that copy when the log reaches back to it; else 0, the whole log (KEYS[4]) and
# the snapshot (KEYS[5])}. Entry i of the log is revision snapshot + 1 + i.
_ACQUIRE = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0}
end
local revision = redis.call('get', KEYS[2])
if not revision then
  return {1}
end
local snapshot = redis.call('get', KEYS[3]) or revision
if revision == ARGV[3] then
  return {1, revision, snapshot}
end
local kept = tonumber(ARGV[3])
local base = tonumber(snapshot)
if kept and kept >= base and kept < tonumber(revision) then
  return {1, revision, snapshot, 1, redis.call('lrange', KEYS[4], kept - base, -1)}
end
return {1, revision, snapshot, 0, redis.call('lrange', KEYS[4], 0, -1),
        redis.call('get', KEYS[5]) or ''}
"""
# Only while the lock (KEYS[1]) is still token ARGV[1]'s (a batch whose lock expired must
# not write over the next holder's): moves the revision (KEYS[2], starting at ARGV[4]) on,
# then ARGV[3] 'snapshot' writes ARGV[2] as the state (KEYS[5]) at that revision (KEYS[3])
# and empties the log (KEYS[4]), 'log' appends ARGV[2] to the log; ARGV[5] '1' releases
# the lock. Answers the new revision.
_SAVE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('stream lock lost')
end
redis.call('set', KEYS[2], ARGV[4], 'NX')
local written = redis.call('incr', KEYS[2])
if ARGV[3] == 'snapshot' then
  redis.call('set', KEYS[5], ARGV[2])
  redis.call('set', KEYS[3], written)
  redis.call('del', KEYS[4])
else
  if not redis.call('get', KEYS[3]) then
    redis.call('set', KEYS[3], written - 1)
  end
  redis.call('rpush', KEYS[4], ARGV[2])
end
if ARGV[5] == '1' then
  redis.call('del', KEYS[1])
end
return written
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
    """Stream state in Redis: per model the snapshot, its log, the revisions and the lock."""

    def __init__(
        self,
        url: str,
        prefix: str = "vigil:streams:",
        snapshots: Snapshots | None = None,
    ) -> None:
        import redis

        self.client: redis.Redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self.cache = StateCache()
        self.snapshots = snapshots or Snapshots()
        self._locks = KeyLocks()
        self._acquire = self.client.register_script(_ACQUIRE)
        self._save = self.client.register_script(_SAVE)
        self._release = self.client.register_script(_RELEASE)
        # How long a lock lasts when its holder dies, and how long a batch waits for one.
        self.lock_seconds = LOCK_SECONDS

    def _key(self, tenant: str, model: str) -> str:
        return f"{self.prefix}{tenant}:{model}"

    def _keys(self, key: str) -> list[str]:
        """Returns the keys the scripts take: lock, revision, snapshot revision, log, state."""
        return [key + ":lock", key + ":revision", key + ":snapshot-revision", key + ":log", key]

    @contextmanager
    def locked(self, tenant: str, model: str, replay: Replayer | None = None) -> Iterator[Locked]:
        """Yields the model's state while holding its Redis lock."""
        key = self._key(tenant, model)
        token = secrets.token_hex(16)
        with self._locks.of((tenant, model)):
            kept = self.cache.take((tenant, model))
            answer = self._lock(key, token, model, kept)
            held: Locked | None = None
            try:
                held = self._read(answer, kept, replay, model)
                held.token = token
                yield held
                self.cache.keep((tenant, model), held)
            finally:
                if held is None or not held.released:
                    self._release(keys=[key + ":lock"], args=[token])

    def _read(
        self, answer: list[Any], kept: Kept | None, replay: Replayer | None, model: str
    ) -> Locked:
        """Returns the state the acquire script's answer says: kept, caught up or read back."""
        if len(answer) < 3:
            return Locked(StreamState(), read=None)
        stored, snapshot = int(answer[1]), int(answer[2])
        if len(answer) == 3 and kept is not None:
            state, since = kept.state, kept.since
        elif len(answer) > 3 and int(answer[3]) == 1 and kept is not None:
            # Another replica wrote since: replay only what it logged after our copy.
            entries, size = _entries(list(answer[4]), model)
            state = _caught_up(kept.state, entries, replay, model)
            since = kept.since.plus(entries, size)
        else:
            payload = bytes(answer[5]) if len(answer) > 5 else b""
            state = StreamState.from_bytes(payload)
            entries, size = _entries(list(answer[4]) if len(answer) > 4 else [], model)
            state = _caught_up(state, entries, replay, model)
            _recovered(model, stored, entries, self.snapshots.writer)
            since = Since(snapshot_bytes=len(payload), at=self.snapshots.clock())
            since = since.plus(entries, size)
        return Locked(state, revision=stored, snapshot_revision=snapshot, since=since, read=state)

    def _lock(self, key: str, token: str, model: str, kept: Kept | None) -> list[Any]:
        """Takes the model's lock for ``token``; returns the acquire script's answer."""
        deadline = time.monotonic() + self.lock_seconds
        wait = _FIRST_WAIT
        milliseconds = max(1, int(self.lock_seconds * 1000))
        copy = str(kept.revision) if kept is not None else ""
        while True:
            answer = self._acquire(keys=self._keys(key), args=[token, milliseconds, copy])
            if int(answer[0]) == 1:
                return list(answer)
            if time.monotonic() >= deadline:
                raise Busy(
                    f"The stream state of {model!r} stayed locked {self.lock_seconds:g} s "
                    "by another batch; nothing was applied.",
                    retry_after=1.0,
                )
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)

    def save(
        self,
        tenant: str,
        model: str,
        held: Locked,
        logged: LoggedBatch | None = None,
        *,
        release: bool = False,
    ) -> None:
        """Writes the batch's log entry (or a snapshot) and moves the revision on, in one
        script (inside ``locked``); ``release`` frees the lock in the same round trip,
        when nothing else is written under it.

        Raises when the lock expired meanwhile (another replica may hold it now):
        the batch fails rather than overwrite a newer state.
        """
        key = self._key(tenant, model)
        if held.token is None:
            raise RuntimeError("RedisStateStore.save must be called inside locked().")
        from redis.exceptions import ResponseError

        snapshot, payload = self.snapshots.payload(held, logged)
        mode = "snapshot" if snapshot else "log"
        try:
            written = self._save(
                keys=self._keys(key),
                args=[held.token, payload, mode, first_revision(), "1" if release else "0"],
            )
        except ResponseError as exc:
            raise Busy(
                f"The stream lock of {model!r} expired before its state was written "
                f"(held longer than {self.lock_seconds:g} s); the batch was not applied.",
                retry_after=1.0,
            ) from exc
        held.released = release
        self.snapshots.wrote(held, int(written), snapshot, payload, logged)

    def drop(self, tenant: str, model: str) -> None:
        """Deletes the model's state, log and revisions."""
        self.cache.forget((tenant, model))
        keys = self._keys(self._key(tenant, model))
        self.client.delete(*keys[1:])


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
