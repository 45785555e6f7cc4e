"""A tick asked for by hand while another process leads the scheduler, on SQLite and PostgreSQL.

Two services on one database, each with its own engine as two processes
would have: the leader holds the ``scheduler`` lease with its scheduler
running; the other asks to run now and gets the leader's report, or runs the
tick itself when nobody leads, or says the leader did not answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from lifecycle_support import ADMIN, frame, train
from sqlalchemy import Engine, update

from clock_support import Clock
from vigil.config import Settings
from vigil.registry.artifacts import LocalArtifactStore
from vigil.registry.db import create_engine_for
from vigil.registry.policies import LeaseState, LeaseStore
from vigil.registry.sessions import utc_now
from vigil.registry.store import RegistryStore
from vigil.registry.tables import PolicyRow
from vigil.service import VigilService
from vigil.usecases.scheduling import SCHEDULER_LEASE, THIS_PROCESS, LeaderDidNotAnswer

# The leader's timer never fires during a test: only a request makes it tick.
NEVER = 3600.0
# How often the leader looks for a request to tick now (a second by default).
POLL = 0.05
T = TypeVar("T")


def _eventually(read: Callable[[], T], holds: Callable[[T], bool], timeout: float = 30) -> T:
    """Returns ``read()`` once ``holds`` is true of it; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if holds(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.02)


class FakeTime:
    """A monotonic clock that moves only when waited on (and moves ``clock`` with it)."""

    def __init__(self, clock: Clock | None = None, *, speedup: float = 1.0) -> None:
        self.seconds = 0.0
        self.waits = 0
        self.clock = clock
        self.speedup = speedup

    def monotonic(self) -> float:
        return self.seconds

    def wait(self, seconds: float) -> None:
        self.waits += 1
        self.seconds += seconds
        if self.clock is not None:
            self.clock.advance(seconds=seconds * self.speedup)


@pytest.fixture
def make_service(
    engine: Engine, database_url: str, settings: Settings, tmp_path: Path
) -> Iterator[Callable[..., VigilService]]:
    """Returns a factory of services on the migrated test database, each with its own engine."""
    made: list[VigilService] = []

    def make(now: Callable[[], Any] = utc_now) -> VigilService:
        engine = create_engine_for(database_url)
        service = VigilService(
            replace(settings, database_url=database_url),
            RegistryStore(engine, now),
            LocalArtifactStore(tmp_path / "artifacts"),
            now=now,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.scheduling.stop_scheduler()
        service.jobs.stop_workers()
        service.notifier.stop()
        service.store.engine.dispose()


def _lease(service: VigilService) -> LeaseState:
    state = service.scheduling.leases.state(SCHEDULER_LEASE)
    assert state is not None
    return state


def _due_schedule(service: VigilService, clock: Callable[[], Any]) -> None:
    """Gives model ``m`` a schedule whose run is due now."""
    service.policies.put_policy(ADMIN, "m", {"schedule": {"interval_minutes": 60}})
    with service.store.engine.begin() as connection:
        connection.execute(update(PolicyRow).values(next_run_at=clock() - timedelta(seconds=1)))


def test_the_lease_row_carries_requests_to_run_and_the_holders_answer(
    engine: Engine, clock: Clock
) -> None:
    leases = LeaseStore(engine, clock)
    ttl = timedelta(seconds=30)
    assert leases.request_run("scheduler") is None  # nobody ever held it: nobody to ask
    assert leases.acquire("scheduler", "a", ttl)
    assert leases.run_requested("scheduler", "a") is None
    assert leases.request_run("scheduler") == 1
    assert leases.request_run("scheduler") == 2
    # Only the holder is told (one cheap read), with the count its next run answers.
    assert leases.run_requested("scheduler", "a") == 2
    assert leases.run_requested("scheduler", "b") is None
    assert leases.requests_made("scheduler") == 2
    report = [{"tenant": "default", "model": "m", "actions": ["x"]}]
    leases.record_run("scheduler", "a", 2, report)
    assert leases.run_requested("scheduler", "a") is None
    state = leases.state("scheduler")
    assert state is not None
    assert (state.runs_answered, state.last_run_by, state.last_run_at) == (2, "a", clock.now)
    assert state.last_report == report
    # A run that began before the newest request does not answer it; a late record
    # of an older run does not take an answer back.
    assert leases.request_run("scheduler") == 3
    leases.record_run("scheduler", "a", 2, [])
    leases.record_run("scheduler", "a", 1, [])
    assert leases.run_requested("scheduler", "a") == 3
    # Released, the row stays expired with its requests, for the next holder to answer.
    leases.release("scheduler", "a")
    assert leases.holder("scheduler") is None
    assert leases.acquire("scheduler", "b", ttl)
    assert leases.run_requested("scheduler", "b") == 3


def test_without_a_leader_the_asker_runs_the_tick_itself(
    make_service: Callable[..., VigilService], clock: Clock
) -> None:
    asker = make_service(clock)
    train(asker, "m", frame(200, seed=1))
    _due_schedule(asker, clock)
    report = asker.scheduling.run_lifecycle_now(ADMIN)
    assert report["ran"] is True and report["by"] == THIS_PROCESS
    assert report["leader"] == asker.instance_id
    [model] = report["models"]
    assert model["model"] == "m" and model["actions"][0].startswith("retrain (schedule) job")
    # The run and its report are on the lease row for anyone who asks later.
    state = _lease(asker)
    assert state.last_run_by == asker.instance_id and state.last_report is not None


def test_a_leader_runs_the_tick_asked_of_it_and_the_asker_gets_its_report(
    make_service: Callable[..., VigilService], clock: Clock
) -> None:
    leader, asker = make_service(clock), make_service(clock)
    train(leader, "m", frame(200, seed=1))
    assert leader.scheduling.lifecycle_tick() is not None  # it leads
    leader.scheduling.start_scheduler(interval=NEVER, poll=POLL)
    _due_schedule(leader, clock)

    report = asker.scheduling.run_lifecycle_now(ADMIN)

    assert report["ran"] is True
    assert report["by"] == leader.instance_id and report["leader"] == leader.instance_id
    [model] = report["models"]
    assert model["model"] == "m" and model["actions"][0].startswith("retrain (schedule) job")
    # The leader ran it (its timer never fired), and still leads.
    state = _lease(leader)
    assert state.holder == leader.instance_id and state.last_run_by == leader.instance_id
    assert state.runs_answered == state.run_requests == 1
    retrains = [j for j in leader.jobs.list_jobs(ADMIN) if j["kind"] == "retrain"]
    assert len(retrains) == 1
    # Another tenant's admin asking gets the same tick's report without this tenant's model.
    other = replace(ADMIN, tenant="acme")
    assert asker.scheduling.run_lifecycle_now(other)["models"] == []
    assert _lease(leader).runs_answered == 2


def test_a_leader_that_does_not_answer_is_named_after_the_deadline(
    make_service: Callable[..., VigilService], clock: Clock
) -> None:
    leader, asker = make_service(clock), make_service(clock)
    train(leader, "m", frame(200, seed=1))
    assert leader.scheduling.lifecycle_tick() is not None  # it leads, but its scheduler is off
    fake = FakeTime()
    asker.scheduling.wait, asker.scheduling.monotonic = fake.wait, fake.monotonic
    asker.scheduling.answer_timeout = 2.0

    with pytest.raises(LeaderDidNotAnswer) as failure:
        asker.scheduling.run_lifecycle_now(ADMIN)

    assert failure.value.message == (
        f"Process {leader.instance_id} leads the scheduler but did not run the policies "
        "within 2 s of being asked."
    )
    assert 2.0 <= fake.seconds < 2.2
    # The request stays: once the leader's scheduler runs, it answers it at once.
    assert _lease(leader).runs_answered < _lease(leader).run_requests == 1
    leader.scheduling.start_scheduler(interval=NEVER, poll=POLL)
    _eventually(lambda: _lease(leader).runs_answered, lambda answered: answered == 1)


def test_a_leader_whose_lease_runs_out_while_asked_is_replaced_by_the_asker(
    make_service: Callable[..., VigilService], clock: Clock
) -> None:
    leader, asker = make_service(clock), make_service(clock)
    train(leader, "m", frame(200, seed=1))
    assert leader.scheduling.lifecycle_tick() is not None  # it leads, then stops renewing
    # Each wait of the asker moves the database clock on a minute: the lease runs out.
    fake = FakeTime(clock, speedup=600)
    asker.scheduling.wait, asker.scheduling.monotonic = fake.wait, fake.monotonic

    report = asker.scheduling.run_lifecycle_now(ADMIN)

    assert report["by"] == THIS_PROCESS and report["leader"] == asker.instance_id
    assert [m["model"] for m in report["models"]] == ["m"]
    assert fake.waits >= 1
    assert _lease(asker).holder == asker.instance_id


def test_a_stopped_leader_gives_the_lease_up_and_its_requests_carry_over(
    make_service: Callable[..., VigilService], clock: Clock
) -> None:
    leader, asker = make_service(clock), make_service(clock)
    leader.scheduling.start_scheduler(interval=NEVER, poll=POLL)
    assert leader.scheduling.lifecycle_tick() is not None
    assert asker.scheduling.leases.request_run(SCHEDULER_LEASE) == 1
    leader.scheduling.stop_scheduler()
    # Released at once: the asker runs the tick itself and answers the earlier request.
    assert asker.scheduling.run_lifecycle_now(ADMIN)["by"] == THIS_PROCESS
    state = _lease(asker)
    assert state.holder == asker.instance_id and state.runs_answered == state.run_requests == 1


def test_the_cli_names_the_leader_that_ran_the_tick(
    make_service: Callable[..., VigilService],
    database_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vigil.cli.main import main

    leader = make_service()  # the real clock: the command's own service uses it too
    train(leader, "m", frame(200, seed=1))
    assert leader.scheduling.lifecycle_tick() is not None
    leader.scheduling.start_scheduler(interval=NEVER, poll=POLL)
    monkeypatch.setenv("VIGIL_HOME", str(settings.home))
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
    monkeypatch.setenv("VIGIL_SECRET_KEY", "s3cret")
    monkeypatch.setenv("VIGIL_ARTIFACT_URI", str(settings.home.parent / "artifacts"))

    def vigil(*args: str) -> str:
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            assert not exc.code, capsys.readouterr().err
        return capsys.readouterr().out

    report = json.loads(vigil("scheduler", "run", "--json"))
    assert report["by"] == leader.instance_id
    assert report["models"] == [{"model": "m", "actions": []}]

    printed = vigil("scheduler", "run")
    assert f"The scheduler's leader, process {leader.instance_id}, ran" in printed
    assert "m" in printed
    assert _lease(leader).runs_answered == 2
