"""A model deleted while the scheduler checks its policy is skipped quietly, not an ERROR."""

from __future__ import annotations

import logging

import pytest
from lifecycle_support import ADMIN, frame, train

from clock_support import Clock
from vigil.lifecycle.controller import LifecycleController
from vigil.registry.policies import PolicyRecord
from vigil.service import VigilService


def test_a_model_deleted_during_its_check_logs_no_error(
    service: VigilService, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    train(service, "gone", frame(200, seed=1))
    service.policies.put_policy(ADMIN, "gone", {"min_feedback": 20})
    controller: LifecycleController = service.scheduling.controller
    check = controller.check

    def deleted_meanwhile(record: PolicyRecord, now: object) -> object:
        # Another request deletes the model after the tick listed its policy.
        service.models.delete_model(ADMIN, record.model)
        return check(record, now)  # type: ignore[arg-type]

    controller.check = deleted_meanwhile  # type: ignore[method-assign]
    clock.advance(minutes=5)
    with caplog.at_level(logging.INFO, logger="vigil"):
        service.scheduling.lifecycle_tick()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "gone was deleted during its policy check" in caplog.text
