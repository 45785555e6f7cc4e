"""LeaseStore and PolicyStore.claim_run on SQLite and PostgreSQL: one holder, one claim."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from lifecycle_support import ADMIN, frame, train
from sqlalchemy import Engine

from clock_support import Clock
from vigil.registry.db import create_engine_for
from vigil.registry.policies import LeaseStore, PolicyStore
from vigil.service import VigilService

TTL = timedelta(seconds=30)


def test_the_first_holder_wins_until_its_lease_expires(engine: Engine, clock: Clock) -> None:
    leases = LeaseStore(engine, clock)
    assert leases.holder("scheduler") is None
    assert leases.acquire("scheduler", "a", TTL)
    assert leases.holder("scheduler") == ("a", clock.now + TTL)
    assert not leases.acquire("scheduler", "b", TTL)
    clock.advance(seconds=29)
    assert not leases.acquire("scheduler", "b", TTL)
    assert leases.holder("scheduler") == ("a", clock.now + timedelta(seconds=1))
    # Expired: the next one to ask takes it over.
    clock.advance(seconds=1)
    assert leases.holder("scheduler") is None
    assert leases.acquire("scheduler", "b", TTL)
    assert leases.holder("scheduler") == ("b", clock.now + TTL)
    assert not leases.acquire("scheduler", "a", TTL)
    # Other leases are independent.
    assert leases.acquire("other", "a", TTL)


def test_renewing_keeps_the_lease(engine: Engine, clock: Clock) -> None:
    leases = LeaseStore(engine, clock)
    assert leases.acquire("scheduler", "a", TTL)
    for _ in range(5):
        clock.advance(seconds=20)  # beyond the first expiry, but renewed in time
        assert not leases.acquire("scheduler", "b", TTL)
        assert leases.acquire("scheduler", "a", TTL)
    assert leases.holder("scheduler") == ("a", clock.now + TTL)


def test_release_frees_the_lease_at_once_but_only_for_its_holder(
    engine: Engine, clock: Clock
) -> None:
    leases = LeaseStore(engine, clock)
    assert leases.acquire("scheduler", "a", TTL)
    leases.release("scheduler", "b")  # not b's to give up
    assert not leases.acquire("scheduler", "b", TTL)
    leases.release("scheduler", "a")
    assert leases.holder("scheduler") is None
    assert leases.acquire("scheduler", "b", TTL)
    leases.release("nothing", "a")  # releasing a lease nobody holds is harmless


def _race(contenders: int, attempt: Callable[[int], bool]) -> list[bool]:
    """Returns what ``attempt(i)`` answered in each of ``contenders`` threads started together."""
    barrier = threading.Barrier(contenders)
    results: list[bool | BaseException] = [False] * contenders

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = attempt(index)
        except BaseException as exc:  # reported below, with the thread's answer
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return [bool(r) for r in results]


def test_racing_for_a_lease_has_one_winner(engine: Engine, database_url: str, clock: Clock) -> None:
    # One engine per contender, as separate processes would have.
    engines = [create_engine_for(database_url) for _ in range(4)]
    try:
        stores = [LeaseStore(engine, clock) for engine in engines]
        for round_ in range(10):
            name = f"fresh-{round_}"
            results = _race(4, lambda i, n=name: stores[i].acquire(n, f"holder-{i}", TTL))
            assert results.count(True) == 1, results
            winner = results.index(True)
            assert stores[0].holder(name) == (f"holder-{winner}", clock.now + TTL)
        # An expired lease raced for: again one winner.
        clock.advance(minutes=1)
        results = _race(4, lambda i: stores[i].acquire("fresh-0", f"late-{i}", TTL))
        assert results.count(True) == 1, results
    finally:
        for engine in engines:
            engine.dispose()


def _scheduled_model(service: VigilService) -> int:
    train(service, "m", frame(200, seed=1))
    service.policies.put_policy(ADMIN, "m", {"schedule": {"interval_minutes": 60}})
    return service.stores.policies.get("default", "m").model_id


def test_claim_run_moves_the_schedule_only_from_the_expected_time(
    service: VigilService, clock: Clock
) -> None:
    model_id = _scheduled_model(service)
    policies = PolicyStore(service.store.engine, clock)
    due = policies.get("default", "m").next_run_at
    assert due == clock.now + timedelta(hours=1)
    following = due + timedelta(hours=1)
    clock.advance(hours=1, seconds=5)
    assert policies.claim_run(model_id, due, following, clock.now)
    # The second claimer saw the same due time: too late.
    assert not policies.claim_run(model_id, due, following, clock.now)
    record = policies.get("default", "m")
    assert record.next_run_at == following and record.last_run_at == clock.now
    # The next run is claimed from the time the first claim set.
    assert policies.claim_run(model_id, following, None, clock.now)
    assert policies.get("default", "m").next_run_at is None


def test_concurrent_claims_of_one_run_have_one_winner(
    service: VigilService, clock: Clock, database_url: str
) -> None:
    model_id = _scheduled_model(service)
    due = service.stores.policies.get("default", "m").next_run_at
    assert due is not None
    clock.advance(hours=2)
    engines = [create_engine_for(database_url) for _ in range(3)]
    try:
        stores = [PolicyStore(engine, clock) for engine in engines]
        results = _race(
            3,
            lambda i: stores[i].claim_run(model_id, due, due + timedelta(hours=1), clock.now),
        )
        assert results.count(True) == 1, results
    finally:
        for engine in engines:
            engine.dispose()
