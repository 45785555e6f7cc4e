"""The Redis state store: a lock, a revision and the state, three round trips a batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from stream_support import REDIS_URL, redis_available

from vigil.errors import Busy
from vigil.streams.state import StreamState
from vigil.streams.store import RedisStateStore

pytestmark = pytest.mark.skipif(not redis_available(), reason="Redis is not at 127.0.0.1:6379")


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"vigil-test:{uuid.uuid4().hex}:"
    yield prefix
    client = RedisStateStore(REDIS_URL).client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def _store(prefix: str) -> RedisStateStore:
    store = RedisStateStore(REDIS_URL)
    store.prefix = prefix
    return store


def test_a_state_written_by_one_replica_is_read_by_the_other(prefix: str) -> None:
    one, two = _store(prefix), _store(prefix)
    with one.locked("t", "m") as held:
        held.state.sequence = 5
        one.save("t", "m", held)
    with two.locked("t", "m") as held:
        assert held.state.sequence == 5
        held.state.sequence = 9
        two.save("t", "m", held)
    # One's kept copy is at an older revision: it reads the stored state, not its copy.
    with one.locked("t", "m") as held:
        assert held.state.sequence == 9
        kept = held.state
        one.save("t", "m", held)
    # Nobody wrote since: the same object comes back, without decoding the state.
    with one.locked("t", "m") as held:
        assert held.state is kept
    assert one.client.get(f"{prefix}t:m:lock") is None


def test_a_batch_whose_lock_was_lost_does_not_overwrite_the_state(prefix: str) -> None:
    store = _store(prefix)
    with store.locked("t", "m") as held:
        held.state.sequence = 1
        store.save("t", "m", held)
    # Busy answers 503 with Retry-After: the batch was not applied, sending it again is safe.
    with pytest.raises(Busy, match="expired") as raised, store.locked("t", "m") as held:
        # The lock expired and another replica took it.
        store.client.set(f"{prefix}t:m:lock", "another-replica")
        held.state.sequence = 2
        store.save("t", "m", held)
    assert raised.value.status == 503 and raised.value.retry_after > 0
    # The other replica's lock is left alone, and the state is the one written before.
    assert store.client.get(f"{prefix}t:m:lock") == b"another-replica"
    stored = store.client.get(f"{prefix}t:m")
    assert isinstance(stored, bytes)
    assert StreamState.from_bytes(stored).sequence == 1


def test_a_held_lock_times_out_with_the_model_named(prefix: str) -> None:
    store = _store(prefix)
    store.client.set(f"{prefix}t:m:lock", "another-replica")
    store.lock_seconds = 0.001
    with pytest.raises(Busy, match="'m' stayed locked"), store.locked("t", "m"):
        pass
    assert store.client.get(f"{prefix}t:m:lock") == b"another-replica"
