"""The notifier end to end: alerts raised, posted to a real receiver, outcomes recorded."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from alert_support import SECRET, SIGNED_AT, RecordingSleep, receiver

from vigil.monitoring.alerts import Alert, AlertStore
from vigil.monitoring.webhook import (
    DELIVERY_HEADER,
    AlertNotifier,
    DeliveryResult,
    WebhookSender,
)


def _raise(alerts: AlertStore, key: str = "drift:churn:1") -> Alert:
    alert, _ = alerts.raise_alert(
        "acme",
        "churn",
        kind="drift",
        severity="warning",
        message="Inputs drifted.",
        version=1,
        dedup_key=key,
        deliver=True,
    )
    return alert


def _sender(sleep: RecordingSleep | None = None, **options: Any) -> WebhookSender:
    return WebhookSender(
        SECRET, sleep=sleep or RecordingSleep(), clock=lambda: SIGNED_AT, **options
    )


def test_a_notified_alert_is_posted_signed_and_marked_delivered(alerts: AlertStore) -> None:
    alert = _raise(alerts)
    sleep = RecordingSleep()
    with receiver(500, 200) as (url, script):
        notifier = AlertNotifier(alerts, _sender(sleep))
        assert notifier.notify(alert, url)
        assert notifier.flush(timeout=30)
        assert notifier.stop()

    stored = alerts.get("acme", alert.id)
    assert (stored.delivery, stored.delivery_attempts, stored.delivery_error) == (
        "delivered",
        2,
        None,
    )
    assert sleep.delays == [0.5]
    assert all(r.verified for r in script.received)
    posted = script.received[-1]
    assert posted.json() == alert.to_json()
    assert posted.headers[DELIVERY_HEADER] == alert.id
    assert alerts.pending_deliveries() == []


def test_a_refused_post_is_marked_failed_with_its_error(alerts: AlertStore) -> None:
    alert = _raise(alerts)
    with receiver(410) as (url, _):
        notifier = AlertNotifier(alerts, _sender())
        notifier.notify(alert, url)
        assert notifier.flush(timeout=30)
        notifier.stop()

    stored = alerts.get("acme", alert.id)
    assert (stored.delivery, stored.delivery_attempts, stored.delivery_error) == (
        "failed",
        1,
        "HTTP 410",
    )


def test_flush_waits_for_the_post_in_flight(alerts: AlertStore) -> None:
    alert = _raise(alerts)
    with receiver(200, hold=True) as (url, script):
        notifier = AlertNotifier(alerts, _sender())
        notifier.notify(alert, url)
        assert script.arrived.wait(30)

        # The receiver holds its answer, so the delivery cannot have finished.
        assert not notifier.flush(timeout=0.01)
        assert alerts.get("acme", alert.id).delivery == "pending"

        script.release.set()
        assert notifier.flush(timeout=30)
        notifier.stop()

    assert alerts.get("acme", alert.id).delivery == "delivered"


class _ExplodingSender(WebhookSender):
    """Raises on its first post (a bug, say), then delivers."""

    def __init__(self) -> None:
        super().__init__(SECRET, sleep=RecordingSleep())
        self.calls = 0

    def send(self, url: str, payload: Any, *, headers: Any = None) -> DeliveryResult:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return DeliveryResult(True, 1, 200, None)


def test_a_crashing_sender_or_store_never_stops_the_thread(
    alerts: AlertStore, caplog: pytest.LogCaptureFixture
) -> None:
    first = _raise(alerts, "a")
    second = _raise(alerts, "b")
    ghost = Alert(**{**first.__dict__, "id": "not-in-the-store"})
    notifier = AlertNotifier(alerts, _ExplodingSender())

    with caplog.at_level(logging.WARNING, logger="vigil.monitoring.webhook"):
        notifier.notify(first, "http://receiver.test/")
        notifier.notify(ghost, "http://receiver.test/")
        notifier.notify(second, "http://receiver.test/")
        assert notifier.flush(timeout=30)
    notifier.stop()

    failed = alerts.get("acme", first.id)
    assert (failed.delivery, failed.delivery_error) == ("failed", "RuntimeError: boom")
    assert alerts.get("acme", second.id).delivery == "delivered"
    assert "boom" in caplog.text
    assert "crashed" in caplog.text  # the unknown alert's mark_delivery raised, was logged


def test_resume_posts_what_a_stopped_process_left_pending(alerts: AlertStore) -> None:
    left = [_raise(alerts, key) for key in ("a", "b")]
    alerts.raise_alert("acme", "churn", kind="canary", severity="info", message="Step to 50%.")
    with receiver(200) as (url, script):
        notifier = AlertNotifier(alerts, _sender())
        assert notifier.resume(url) == 2
        assert notifier.flush(timeout=30)
        notifier.stop()

    assert sorted(r.json()["id"] for r in script.received) == sorted(a.id for a in left)
    assert alerts.pending_deliveries() == []


def test_a_full_queue_leaves_the_alert_pending(alerts: AlertStore) -> None:
    first, second = _raise(alerts, "a"), _raise(alerts, "b")
    with receiver(200, hold=True) as (url, script):
        notifier = AlertNotifier(alerts, _sender(), max_queue=1)
        assert notifier.notify(first, url)
        assert script.arrived.wait(30)  # the first is in flight; the queue is empty
        assert notifier.notify(second, url)
        assert not notifier.notify(second, url)
        script.release.set()
        assert notifier.flush(timeout=30)
        notifier.stop()

    assert alerts.get("acme", first.id).delivery == "delivered"
    assert alerts.get("acme", second.id).delivery == "delivered"


def test_stop_without_start_and_flush_when_idle_return_at_once(alerts: AlertStore) -> None:
    notifier = AlertNotifier(alerts, _sender())

    assert notifier.flush(timeout=0)
    assert notifier.stop()
