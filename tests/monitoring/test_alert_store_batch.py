"""Many alerts raised at once (a stream batch's incident changes): one transaction, same dedup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event

from vigil.errors import InvalidInput
from vigil.monitoring.alerts import AlertStore, NewAlert


def _incident(key: str, severity: str = "warning") -> NewAlert:
    return NewAlert(
        kind="incident",
        severity=severity,
        message=f"Incident {key} changed.",
        details={"change": key},
        version=2,
        dedup_key=f"incident:{key}",
    )


def _commits(engine: Engine) -> list[int]:
    """Returns a list that grows by one at every commit on ``engine``."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def test_many_alerts_are_raised_in_one_transaction_in_order(
    alerts: AlertStore, engine: Engine
) -> None:
    wanted = [_incident(f"a{i}") for i in range(30)]
    commits = _commits(engine)

    raised = alerts.raise_alerts("acme", "web", wanted, deliver=True)

    assert len(commits) == 1
    assert [created for _, created in raised] == [True] * 30
    assert [alert.dedup_key for alert, _ in raised] == [f"incident:a{i}" for i in range(30)]
    first = raised[0][0]
    assert first.created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert first.delivery == "pending" and first.status == "open" and first.version == 2
    assert first.details == {"change": "a0"} and first.model == "web"
    # Stored as returned, and listed newest first.
    assert alerts.get("acme", first.id) == first
    listed = alerts.list("acme", "web", limit=100)
    assert [a.id for a in listed] == [a.id for a, _ in reversed(raised)]
    assert len(alerts.pending_deliveries(limit=100)) == 30


def test_open_keys_and_keys_repeated_in_the_batch_are_one_alert_each(alerts: AlertStore) -> None:
    ((before, _),) = alerts.raise_alerts("acme", "web", [_incident("open")])
    alerts.raise_alerts("acme", "web", [_incident("gone")])
    assert alerts.resolve("acme", "incident:gone") == 1

    raised = alerts.raise_alerts(
        "acme",
        "web",
        [_incident("open"), _incident("new"), _incident("new", "critical"), _incident("gone")],
    )

    (again, old), (new, created), (repeat, repeated), (back, reopened) = raised
    assert again == before and not old
    assert created and not repeated and repeat == new and repeat.severity == "warning"
    # A resolved condition that comes back is a new alert.
    assert reopened and back.status == "open"
    assert len(alerts.list("acme", "web", status="open")) == 3
    # Another tenant's open alert of the same key blocks nothing.
    ((other, other_created),) = alerts.raise_alerts("globex", "web", [_incident("open")])
    assert other_created and other.id != before.id


def test_alerts_without_a_key_are_each_new(alerts: AlertStore) -> None:
    plain = NewAlert(kind="job_failed", severity="critical", message="Training failed.")

    raised = alerts.raise_alerts("acme", "web", [plain, plain])

    assert [created for _, created in raised] == [True, True]
    assert raised[0][0].id != raised[1][0].id


def test_one_bad_alert_raises_nothing_and_names_its_field(
    alerts: AlertStore, engine: Engine
) -> None:
    commits = _commits(engine)
    bad = NewAlert(kind="incident", severity="urgent", message="?", dedup_key="incident:x")

    with pytest.raises(InvalidInput, match="severity 'urgent'"):
        alerts.raise_alerts("acme", "web", [_incident("fine"), bad])
    with pytest.raises(InvalidInput, match="dedup_key"):
        alerts.raise_alerts("acme", "web", [_incident("fine"), _incident("k" * 300)])

    assert commits == []
    assert alerts.list("acme") == []


def test_nothing_to_raise_touches_nothing(alerts: AlertStore, engine: Engine) -> None:
    commits = _commits(engine)

    assert alerts.raise_alerts("acme", "web", []) == []
    assert commits == []
