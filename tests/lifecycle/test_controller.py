"""What the policy controller does at a tick, through the service on an injected clock:
canary steps, retention, the feedback-count trigger, pausing, failed jobs and webhooks."""

from __future__ import annotations

import pandas as pd
import pytest
from lifecycle_support import (
    ADMIN,
    FEATURES,
    actions,
    alerts,
    frame,
    retrain_jobs,
    traffic,
    train,
    webhook_receiver,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from clock_support import Clock
from vigil.data.loading import Dataset
from vigil.errors import Conflict
from vigil.monitoring.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from vigil.security import Caller
from vigil.service import VigilService
from vigil.training.trainer import TrainSpec

CANARY_POLICY = {
    "min_feedback": 20,
    "canary": {"steps": [10, 50], "min_predictions": 30},
    "rollback": {"metric_drop": 0.2},
}


def _canary_actions(reports: list[dict] | None) -> list[str]:
    return [a for a in actions(reports, "m") if a.startswith("canary")]


def test_a_promoted_retraining_steps_through_the_canary_while_healthy(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(400, seed=1))
    service.policies.put_policy(ADMIN, "m", {**CANARY_POLICY, "triggers": {"feedback_count": 100}})
    # Traffic moved where v1 is wrong; its labels trigger a retraining.
    clock.advance(minutes=5)
    traffic(service, "m", frame(150, seed=2, shifted=True))
    clock.advance(minutes=1)
    assert any(
        a.startswith("retrain (150 labelled")
        for a in actions(service.scheduling.lifecycle_tick(), "m")
    )
    assert service.jobs.run_pending_jobs() == 1
    job = retrain_jobs(service)[0]
    assert job["status"] == "succeeded", job
    assert job["result"]["promoted"] is True, job["result"]
    assert job["result"]["deployment"] == "canary 10%"
    model = service.models.get_model(ADMIN, "m")
    assert (model.production_version, model.canary_version, model.canary_weight) == (1, 2, 10)

    # Too few answers at this step: the canary stays where it is.
    clock.advance(minutes=5)
    traffic(service, "m", frame(20, seed=3, shifted=True), version=2)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == []
    # Healthy over enough answers: the next step.
    traffic(service, "m", frame(20, seed=4, shifted=True), version=2)
    traffic(service, "m", frame(40, seed=5, shifted=True), version=1)
    clock.advance(minutes=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == ["canary v2 -> 50%"]
    assert service.models.get_model(ADMIN, "m").canary_weight == 50
    # The answers before the step do not count towards the next one.
    clock.advance(minutes=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == []
    traffic(service, "m", frame(40, seed=6, shifted=True), version=2)
    traffic(service, "m", frame(40, seed=7, shifted=True), version=1)
    clock.advance(minutes=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == ["canary v2 promoted"]
    model = service.models.get_model(ADMIN, "m")
    assert (model.production_version, model.canary_version) == (2, None)

    steps = [
        (e.action, e.version, e.weight, e.actor)
        for e in service.models.history(ADMIN, "m")
        if e.action in ("deploy", "canary", "rollback", "undeploy")
    ]
    assert steps[-3:] == [
        ("canary", 2, 10, "policy"),
        ("canary", 2, 50, "policy"),
        ("deploy", 2, None, "policy"),
    ]
    promoted = alerts(service, "m", "promoted")
    assert promoted and "after its canary steps" in promoted[0]["message"]
    # Nothing left to step: later ticks leave the deployment alone.
    clock.advance(minutes=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == []


def test_an_unhealthy_canary_is_withdrawn_with_an_alert(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(400, seed=1))
    train(service, "m", frame(400, seed=1, flipped=True))  # wrong everywhere
    service.models.deploy(ADMIN, "m", 2, strategy="canary", weight=10, reason="test: a bad canary")
    service.policies.put_policy(ADMIN, "m", CANARY_POLICY)
    clock.advance(minutes=5)
    traffic(service, "m", frame(40, seed=5), version=2)
    traffic(service, "m", frame(40, seed=6), version=1)
    clock.advance(minutes=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == ["canary v2 withdrawn"]
    model = service.models.get_model(ADMIN, "m")
    assert (model.production_version, model.canary_version) == (1, None)
    last = service.models.history(ADMIN, "m")[-1]
    assert (last.action, last.version, last.actor) == ("undeploy", 2, "policy")
    assert last.reason.startswith("canary withdrawn: live f1")
    withdrawn = alerts(service, "m", "canary")
    assert len(withdrawn) == 1
    assert withdrawn[0]["version"] == 2 and withdrawn[0]["severity"] == "warning"
    clock.advance(minutes=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == []


def test_a_canary_within_the_allowed_drop_is_not_withdrawn(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(400, seed=1))
    train(service, "m", frame(400, seed=11))  # as good as v1
    service.models.deploy(ADMIN, "m", 2, strategy="canary", weight=10)
    service.policies.put_policy(ADMIN, "m", CANARY_POLICY)
    clock.advance(minutes=5)
    traffic(service, "m", frame(40, seed=5), version=2)
    traffic(service, "m", frame(40, seed=6), version=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == ["canary v2 -> 50%"]


def test_retention_deletes_old_versions_but_never_deployed_ones(
    service: VigilService, clock: Clock
) -> None:
    for seed in range(1, 7):  # v1..v6, a day apart
        train(service, "m", frame(120, seed=seed))
        clock.advance(days=1)
    service.models.deploy(ADMIN, "m", 2, strategy="canary", weight=10)
    service.models.deploy(ADMIN, "m", 3, strategy="shadow")
    service.policies.put_policy(ADMIN, "m", {"retention": {"keep_last": 2}})

    def versions() -> list[int]:
        return [v.version for v in service.models.list_versions(ADMIN, "m")]

    assert actions(service.scheduling.lifecycle_tick(), "m") == ["deleted v4 (retention)"]
    # v1 production, v2 canary, v3 shadow, v5 and v6 the last two.
    assert versions() == [1, 2, 3, 5, 6]
    deleted = service.models.history(ADMIN, "m")[-1]
    assert (deleted.action, deleted.version, deleted.actor) == ("delete_version", 4, "policy")
    assert actions(service.scheduling.lifecycle_tick(), "m") == []

    # By age: v6 was trained a day ago, v5 two days ago.
    service.policies.put_policy(ADMIN, "m", {"retention": {"keep_days": 1.5}})
    assert actions(service.scheduling.lifecycle_tick(), "m") == ["deleted v5 (retention)"]
    assert versions() == [1, 2, 3, 6]

    # Both: the last one, and whatever is younger than the days.
    train(service, "m", frame(120, seed=7))  # v7, now
    clock.advance(days=1)
    service.policies.put_policy(ADMIN, "m", {"retention": {"keep_last": 1, "keep_days": 2.5}})
    assert actions(service.scheduling.lifecycle_tick(), "m") == []  # v6 is two days old
    clock.advance(days=1)
    assert actions(service.scheduling.lifecycle_tick(), "m") == ["deleted v6 (retention)"]
    assert versions() == [1, 2, 3, 7]
    # Undeployed, the canary and the shadow are fair game; production never is.
    service.models.undeploy(ADMIN, "m", 2)
    service.models.undeploy(ADMIN, "m", 3)
    clock.advance(days=30)
    assert sorted(actions(service.scheduling.lifecycle_tick(), "m")) == [
        "deleted v2 (retention)",
        "deleted v3 (retention)",
    ]
    assert versions() == [1, 7]


def test_enough_new_feedback_triggers_a_retraining_at_most_once_per_cooldown(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(300, seed=1))
    service.policies.put_policy(ADMIN, "m", {"triggers": {"feedback_count": 50}})
    clock.advance(minutes=1)
    data = frame(60, seed=2)
    answers = traffic(service, "m", data, feedback=False)
    assert actions(service.scheduling.lifecycle_tick(), "m") == []
    items = [
        {"prediction_id": a["id"], "actual": int(y)}
        for a, y in zip(answers, data["y"], strict=True)
    ]
    service.monitoring.record_feedback(ADMIN, "m", items[:30])
    clock.advance(minutes=1)
    assert actions(service.scheduling.lifecycle_tick(), "m") == []
    service.monitoring.record_feedback(ADMIN, "m", items[30:])
    clock.advance(minutes=1)
    done = actions(service.scheduling.lifecycle_tick(), "m")
    assert len(done) == 1 and done[0].startswith(
        "retrain (60 labelled predictions since the last retraining) job "
    ), done
    jobs = retrain_jobs(service)
    assert len(jobs) == 1 and jobs[0]["created_by"] == "policy"
    assert service.jobs.run_pending_jobs() == 1

    # Counted afresh from the retraining, and not again within the cooldown.
    clock.advance(minutes=5)
    traffic(service, "m", frame(60, seed=3))
    clock.advance(minutes=1)
    assert actions(service.scheduling.lifecycle_tick(), "m") == []
    clock.advance(hours=1)
    done = actions(service.scheduling.lifecycle_tick(), "m")
    assert len(done) == 1 and done[0].startswith("retrain (60 labelled predictions"), done
    assert len(retrain_jobs(service)) == 2


def test_a_paused_policy_takes_no_action_until_resumed(service: VigilService, clock: Clock) -> None:
    for seed in (1, 2, 3):
        train(service, "m", frame(150, seed=seed))
    service.policies.put_policy(
        ADMIN, "m", {"triggers": {"feedback_count": 10}, "retention": {"keep_last": 1}}
    )
    paused = service.policies.set_policy_paused(ADMIN, "m", True)
    assert paused["paused"] is True and paused["updated_by"] == ADMIN.actor
    clock.advance(minutes=1)
    traffic(service, "m", frame(20, seed=4))
    clock.advance(minutes=1)
    assert actions(service.scheduling.lifecycle_tick(), "m") == []
    assert retrain_jobs(service) == []
    assert [v.version for v in service.models.list_versions(ADMIN, "m")] == [1, 2, 3]
    # Replacing the policy keeps it paused.
    service.policies.put_policy(
        ADMIN, "m", {"triggers": {"feedback_count": 10}, "retention": {"keep_last": 1}}
    )
    assert service.policies.get_policy(ADMIN, "m")["paused"] is True
    assert actions(service.scheduling.lifecycle_tick(), "m") == []

    assert service.policies.set_policy_paused(ADMIN, "m", False)["paused"] is False
    done = actions(service.scheduling.lifecycle_tick(), "m")
    assert [a.split(" ")[0] for a in done] == ["retrain", "deleted"], done
    assert "deleted v2 (retention)" in done
    assert len(retrain_jobs(service)) == 1
    assert [v.version for v in service.models.list_versions(ADMIN, "m")] == [1, 3]


def _forget_training_data(service: VigilService, version: int) -> None:
    """Makes ``version`` look as if trained before versions kept their training data."""
    from vigil.registry.tables import ModelVersionRow

    with Session(service.store.engine) as session, session.begin():
        row = session.scalars(
            select(ModelVersionRow).where(ModelVersionRow.version == version)
        ).one()
        row.extra = {k: v for k, v in row.extra.items() if k not in ("dataset_id", "train_spec")}


def test_a_retraining_without_kept_training_data_is_a_clear_conflict(
    service: VigilService,
) -> None:
    train(service, "m", frame(150, seed=1))
    _forget_training_data(service, 1)
    with pytest.raises(Conflict) as caught:
        service.retraining.retrain(ADMIN, "m")
    assert caught.value.message == (
        "Version 1 of m kept no training data to retrain from; train a new version by hand first."
    )


def test_a_failed_job_raises_an_alert_posted_signed_to_the_policy_webhook(
    service: VigilService,
) -> None:
    train(service, "m", frame(150, seed=1))
    _forget_training_data(service, 1)
    with webhook_receiver() as (url, inbox):
        service.policies.put_policy(ADMIN, "m", {"webhook_url": url})
        job = service.retraining.submit_retraining(ADMIN, "m", reason="test")
        assert service.jobs.run_pending_jobs() == 1
        assert service.notifier.flush(10)
    failed = service.jobs.get_job(ADMIN, job["id"])
    assert failed["status"] == "failed"
    assert "kept no training data" in failed["error"]
    raised = alerts(service, "m", "job_failed")
    assert len(raised) == 1
    alert = raised[0]
    assert alert["severity"] == "warning" and alert["details"]["job_id"] == job["id"]
    assert f"retrain job {job['id']} failed" in alert["message"]
    assert alert["delivery"] == "delivered" and alert["delivery_attempts"] == 1

    assert len(inbox.received) == 1
    post = inbox.received[0]
    headers = {k.lower(): v for k, v in post.headers.items()}
    assert post.path == "/hook"
    assert headers[DELIVERY_HEADER.lower()] == alert["id"]
    secret = service.settings.secret_key
    timestamp, signature = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
    assert verify(secret, post.body, timestamp, signature, max_age=None)
    assert not verify(secret, post.body + b" ", timestamp, signature, max_age=None)
    assert not verify(b"another secret", post.body, timestamp, signature, max_age=None)
    sent = post.json()
    assert (sent["id"], sent["kind"], sent["model"]) == (alert["id"], "job_failed", "m")


def test_alerts_of_a_model_without_a_webhook_are_not_posted(service: VigilService) -> None:
    train(service, "m", frame(150, seed=1))
    _forget_training_data(service, 1)
    service.retraining.submit_retraining(ADMIN, "m")
    assert service.jobs.run_pending_jobs() == 1
    assert [a["delivery"] for a in alerts(service, "m", "job_failed")] == ["none"]


def test_a_canary_deployed_again_by_hand_is_observed_afresh(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(400, seed=1))
    train(service, "m", frame(400, seed=11))
    service.policies.put_policy(ADMIN, "m", CANARY_POLICY)
    service.models.deploy(ADMIN, "m", 2, strategy="canary", weight=10)
    clock.advance(minutes=5)
    traffic(service, "m", frame(40, seed=5), version=2)
    traffic(service, "m", frame(40, seed=6), version=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == ["canary v2 -> 50%"]
    clock.advance(minutes=5)
    traffic(service, "m", frame(40, seed=7), version=2)
    # A person withdraws the canary at 50 %, then starts it again at 10 %.
    clock.advance(minutes=1)
    service.models.undeploy(ADMIN, "m", 2, reason="test: looking into it")
    clock.advance(minutes=30)
    service.models.deploy(ADMIN, "m", 2, strategy="canary", weight=10, reason="test: again")
    clock.advance(minutes=1)
    # Its answers from before the new start do not count: it stays at 10 % for now.
    assert _canary_actions(service.scheduling.lifecycle_tick()) == []
    assert service.models.get_model(ADMIN, "m").canary_weight == 10
    traffic(service, "m", frame(40, seed=8), version=2)
    traffic(service, "m", frame(40, seed=9), version=1)
    assert _canary_actions(service.scheduling.lifecycle_tick()) == ["canary v2 -> 50%"]


def test_a_retraining_by_hand_restarts_the_feedback_count(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(300, seed=1))
    service.policies.put_policy(ADMIN, "m", {"triggers": {"feedback_count": 50}})
    clock.advance(minutes=1)
    traffic(service, "m", frame(60, seed=2))
    clock.advance(minutes=1)
    service.retraining.retrain(ADMIN, "m", reason="test: by hand")
    clock.advance(minutes=1)
    # The feedback was already learned from: no second retraining on it.
    assert actions(service.scheduling.lifecycle_tick(), "m") == []
    assert retrain_jobs(service) == []
    clock.advance(hours=2)
    traffic(service, "m", frame(60, seed=3))
    clock.advance(minutes=1)
    done = actions(service.scheduling.lifecycle_tick(), "m")
    assert len(done) == 1 and done[0].startswith("retrain (60 labelled predictions"), done


def test_an_alert_left_unposted_by_an_ended_process_is_posted_by_the_leader(
    service: VigilService, clock: Clock
) -> None:
    train(service, "m", frame(150, seed=1))
    with webhook_receiver() as (url, inbox):
        service.policies.put_policy(ADMIN, "m", {"webhook_url": url})
        # Raised and recorded as pending, but the process ended before posting it.
        left, _ = service.stores.alerts.raise_alert(
            "default", "m", kind="drift", severity="warning", message="left", deliver=True
        )
        # Not yet: the process that raised it may still be posting it (with retries).
        assert not [a for a in actions(service.scheduling.lifecycle_tick(), "m") if "webhook" in a]
        clock.advance(minutes=11)
        assert "webhook: 1 unposted alert(s) queued again" in actions(
            service.scheduling.lifecycle_tick(), "m"
        )
        assert service.notifier.flush(10)
        clock.advance(minutes=1)
        assert not [a for a in actions(service.scheduling.lifecycle_tick(), "m") if "webhook" in a]
    assert [post.json()["id"] for post in inbox.received] == [left.id]
    assert service.stores.alerts.get("default", left.id).delivery == "delivered"


def test_a_tick_does_not_act_on_a_production_that_moved_on_while_it_judged(
    service: VigilService, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(service, "m", frame(400, seed=1))
    train(service, "m", frame(400, seed=11))
    service.policies.put_policy(ADMIN, "m", {"min_feedback": 20, "rollback": {"metric_drop": 0.1}})
    clock.advance(minutes=5)
    traffic(service, "m", frame(150, seed=2, shifted=True))  # v1 is wrong here
    clock.advance(minutes=1)
    original = service.models.previous_production

    def deployed_meanwhile(caller: Caller, name: str) -> int | None:
        # Another process (a retraining on a worker) deploys v2 while the tick judges v1.
        if service.models.get_model(ADMIN, name).production_version == 1:
            service.models.deploy(ADMIN, name, 2, reason="retrained elsewhere")
        return original(caller, name)

    monkeypatch.setattr(service.models, "previous_production", deployed_meanwhile)
    reports = service.scheduling.lifecycle_tick()
    # Neither v2 rolled back for v1's faults, nor an alert about v1 against itself.
    assert actions(reports, "m") == []
    assert service.models.get_model(ADMIN, "m").production_version == 2
    assert service.models.history(ADMIN, "m")[-1].action == "deploy"
    assert not [a for a in service.alerts.list_alerts(ADMIN, "m") if a["severity"] == "critical"]


def _anomaly_version(service: VigilService, data: pd.DataFrame) -> int:
    # ECOD: a value beyond every training value is rare on its own (a forest cannot tell).
    spec = TrainSpec(task="anomaly", algorithm="ecod")
    dataset = Dataset(data[FEATURES], f"{abs(hash(data.to_csv())):064x}"[:64], "csv", "normal")
    return service.training.train(ADMIN, "a", dataset, spec).version.version


@pytest.mark.parametrize(("canary_data", "expected"), [("shifted", "withdrawn"), ("same", "50%")])
def test_an_anomaly_canary_without_labels_is_judged_by_its_anomaly_rate(
    service: VigilService, clock: Clock, canary_data: str, expected: str
) -> None:
    _anomaly_version(service, frame(400, seed=1))
    # A canary trained elsewhere (x2 around 6) finds today's normal traffic strange.
    _anomaly_version(service, frame(400, seed=2, shifted=canary_data == "shifted"))
    service.models.deploy(ADMIN, "a", 2, strategy="canary", weight=10)
    service.policies.put_policy(ADMIN, "a", CANARY_POLICY)
    clock.advance(minutes=5)
    traffic(service, "a", frame(40, seed=5), version=2, feedback=False)
    traffic(service, "a", frame(40, seed=6), version=1, feedback=False)
    done = [a for a in actions(service.scheduling.lifecycle_tick(), "a") if a.startswith("canary")]
    assert done == [f"canary v2 {'withdrawn' if expected == 'withdrawn' else '-> 50%'}"]
    if expected == "withdrawn":
        last = service.models.history(ADMIN, "a")[-1]
        assert (last.action, last.version) == ("undeploy", 2)
        assert "anomaly rate" in last.reason and "(unlabelled)" in last.reason
