"""The alert store on SQLite and PostgreSQL: raise, dedup, list, acknowledge, resolve, deliver."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from vigil.errors import InvalidInput, NotFound
from vigil.monitoring.alerts import ALERT_KINDS, SEVERITIES, Alert, AlertStore


def _drift(
    alerts: AlertStore, tenant: str = "acme", model: str = "churn", **changes: object
) -> tuple[Alert, bool]:
    options: dict[str, object] = {
        "kind": "drift",
        "severity": "warning",
        "message": "Inputs of version 1 drifted.",
        "version": 1,
        "details": {"share": 0.6, "features": ["age"]},
        "dedup_key": "drift:churn:1",
    }
    options.update(changes)
    return alerts.raise_alert(tenant, model, **options)  # type: ignore[arg-type]


def test_a_raised_alert_is_stored_open_with_every_field(alerts: AlertStore) -> None:
    alert, created = _drift(alerts, deliver=True)

    assert created
    assert alert.status == "open"
    assert alert.delivery == "pending"
    assert alert.delivery_attempts == 0
    assert alert.created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert alerts.get("acme", alert.id) == alert
    as_json = alert.to_json()
    assert as_json["created_at"] == "2026-01-05T09:00:00+00:00"
    assert as_json["acknowledged_at"] is None
    assert as_json["details"] == {"share": 0.6, "features": ["age"]}
    assert as_json["version"] == 1 and as_json["kind"] == "drift"


def test_without_deliver_the_alert_is_not_posted(alerts: AlertStore) -> None:
    alert, _ = alerts.raise_alert(
        "acme", "churn", kind="job_failed", severity="critical", message="Training failed."
    )

    assert alert.delivery == "none"
    assert alert.details == {} and alert.dedup_key is None and alert.version is None
    assert alerts.pending_deliveries() == []


def test_an_ongoing_condition_is_one_alert(alerts: AlertStore) -> None:
    first, created = _drift(alerts)
    again, created_again = _drift(alerts, message="Still drifting.", severity="critical")

    assert created and not created_again
    assert again == first
    assert [a.id for a in alerts.list("acme")] == [first.id]


def test_alerts_without_a_dedup_key_are_never_merged(alerts: AlertStore) -> None:
    _drift(alerts, dedup_key=None)
    _drift(alerts, dedup_key=None)

    assert len(alerts.list("acme")) == 2


def test_the_same_dedup_key_in_another_tenant_is_another_alert(alerts: AlertStore) -> None:
    ours, _ = _drift(alerts, tenant="acme")
    theirs, created = _drift(alerts, tenant="globex")

    assert created and theirs.id != ours.id


def test_an_acknowledged_alert_no_longer_holds_back_a_new_one(alerts: AlertStore) -> None:
    first, _ = _drift(alerts)
    alerts.acknowledge("acme", "churn", first.id, "key:ops")

    second, created = _drift(alerts)

    assert created and second.id != first.id


def test_a_resolved_condition_can_be_raised_again(alerts: AlertStore) -> None:
    first, _ = _drift(alerts)
    other, _ = _drift(alerts, dedup_key="drift:churn:2")

    assert alerts.resolve("acme", "drift:churn:1") == 1
    assert alerts.resolve("acme", "drift:churn:1") == 0
    assert alerts.get("acme", first.id).status == "resolved"
    assert alerts.get("acme", other.id).status == "open"

    second, created = _drift(alerts)
    assert created and second.id != first.id and second.status == "open"


def test_resolve_closes_acknowledged_alerts_of_the_key_too(alerts: AlertStore) -> None:
    first, _ = _drift(alerts)
    alerts.acknowledge("acme", "churn", first.id, "key:ops")
    second, _ = _drift(alerts)

    assert alerts.resolve("acme", "drift:churn:1") == 2
    resolved = alerts.get("acme", first.id)
    assert resolved.status == "resolved" and resolved.acknowledged_by == "key:ops"
    assert alerts.get("acme", second.id).status == "resolved"


def test_resolve_touches_only_the_tenants_own_alerts(alerts: AlertStore) -> None:
    _drift(alerts, tenant="acme")
    theirs, _ = _drift(alerts, tenant="globex")

    assert alerts.resolve("acme", "drift:churn:1") == 1
    assert alerts.get("globex", theirs.id).status == "open"


def test_list_is_newest_first_and_filters_by_model_and_status(alerts: AlertStore) -> None:
    a, _ = _drift(alerts, dedup_key="a")
    b, _ = _drift(alerts, dedup_key="b", model="fraud")
    c, _ = _drift(alerts, dedup_key="c", kind="rollback", severity="info")
    alerts.acknowledge("acme", "churn", a.id, "key:ops")
    _drift(alerts, tenant="globex", dedup_key="a")

    assert [x.id for x in alerts.list("acme")] == [c.id, b.id, a.id]
    assert [x.id for x in alerts.list("acme", "churn")] == [c.id, a.id]
    assert [x.id for x in alerts.list("acme", "churn", status="open")] == [c.id]
    assert [x.id for x in alerts.list("acme", status="acknowledged")] == [a.id]
    assert alerts.list("acme", status="resolved") == []
    assert [x.id for x in alerts.list("acme", limit=2)] == [c.id, b.id]
    assert alerts.list("nobody") == []


def test_acknowledging_twice_keeps_the_first_time_and_actor(alerts: AlertStore) -> None:
    alert, _ = _drift(alerts)

    first = alerts.acknowledge("acme", "churn", alert.id, "key:alice")
    second = alerts.acknowledge("acme", "churn", alert.id, "key:bob")

    assert first.status == "acknowledged"
    assert first.acknowledged_by == "key:alice"
    assert first.acknowledged_at == datetime(2026, 1, 5, 9, 0, 1, tzinfo=UTC)
    assert second == first
    assert alerts.get("acme", alert.id) == first
    assert first.to_json()["acknowledged_at"] == "2026-01-05T09:00:01+00:00"


def test_acknowledging_a_resolved_alert_keeps_it_resolved(alerts: AlertStore) -> None:
    alert, _ = _drift(alerts)
    alerts.resolve("acme", "drift:churn:1")

    acknowledged = alerts.acknowledge("acme", "churn", alert.id, "key:alice")

    assert acknowledged.status == "resolved"
    assert acknowledged.acknowledged_by == "key:alice"


def test_another_tenants_alert_does_not_exist(alerts: AlertStore) -> None:
    alert, _ = _drift(alerts, tenant="globex")

    with pytest.raises(NotFound):
        alerts.get("acme", alert.id)
    with pytest.raises(NotFound):
        alerts.acknowledge("acme", "churn", alert.id, "key:mallory")
    assert alerts.get("globex", alert.id).status == "open"


def test_an_alert_is_acknowledged_only_through_its_own_model(alerts: AlertStore) -> None:
    alert, _ = _drift(alerts)

    with pytest.raises(NotFound):
        alerts.acknowledge("acme", "fraud", alert.id, "key:ops")
    with pytest.raises(NotFound):
        alerts.acknowledge("acme", "churn", "0190a1b2-0000-7000-8000-000000000000", "key:ops")
    assert alerts.get("acme", alert.id).status == "open"


def test_an_unknown_kind_or_severity_is_refused_naming_the_allowed_values(
    alerts: AlertStore,
) -> None:
    with pytest.raises(InvalidInput) as kind:
        _drift(alerts, kind="earthquake")
    with pytest.raises(InvalidInput) as severity:
        _drift(alerts, severity="apocalyptic")
    with pytest.raises(InvalidInput) as status:
        alerts.list("acme", status="closed")

    assert all(k in kind.value.message for k in ALERT_KINDS)
    assert "earthquake" in kind.value.message
    assert all(s in severity.value.message for s in SEVERITIES)
    assert "open, acknowledged, resolved" in status.value.message
    assert alerts.list("acme") == []


def test_a_dedup_key_longer_than_the_column_is_refused(alerts: AlertStore) -> None:
    with pytest.raises(InvalidInput):
        _drift(alerts, dedup_key="k" * 257)


def test_pending_deliveries_are_oldest_first_and_leave_once_marked(alerts: AlertStore) -> None:
    first, _ = _drift(alerts, dedup_key="a", deliver=True)
    _drift(alerts, dedup_key="b")
    third, _ = _drift(alerts, tenant="globex", dedup_key="c", deliver=True)

    assert [a.id for a in alerts.pending_deliveries()] == [first.id, third.id]
    assert [a.id for a in alerts.pending_deliveries(limit=1)] == [first.id]

    delivered = alerts.mark_delivery(first.id, delivered=True, attempts=3, error=None)
    failed = alerts.mark_delivery(third.id, delivered=False, attempts=5, error="HTTP 503")

    assert (delivered.delivery, delivered.delivery_attempts) == ("delivered", 3)
    assert (failed.delivery, failed.delivery_attempts, failed.delivery_error) == (
        "failed",
        5,
        "HTTP 503",
    )
    assert alerts.pending_deliveries() == []
    assert alerts.get("globex", third.id).delivery_error == "HTTP 503"
    with pytest.raises(NotFound):
        alerts.mark_delivery("no-such-alert", delivered=True, attempts=1, error=None)


def test_concurrent_raises_of_one_condition_store_one_alert(alerts: AlertStore) -> None:
    threads = 8
    start = threading.Barrier(threads)
    outcomes: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def raise_one() -> None:
        try:
            start.wait()
            alert, created = _drift(alerts)
            with lock:
                outcomes.append((alert.id, created))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=raise_one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert sum(created for _, created in outcomes) == 1
    assert len({alert_id for alert_id, _ in outcomes}) == 1
    assert len(alerts.list("acme")) == 1
