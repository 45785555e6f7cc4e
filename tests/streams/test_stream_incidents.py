"""Consecutive anomalies of a stream form one incident, posted once per change."""

from __future__ import annotations

from stream_support import ADMIN, incident_model, webhook_receiver

from vigil.service import VigilService


def test_an_incident_opens_escalates_resolves_and_is_posted_once_each(
    stream_service: VigilService,
) -> None:
    low, high = incident_model(stream_service)
    normal = {"a": 0.1, "b": -0.2}
    # Tabular rows carry no time: their arrival time (the service's clock) is their event time.
    clock = stream_service.now
    settings = {"incident_gap": "3s", "incident_quiet": "5s"}
    with webhook_receiver(stream_service.settings.secret_key) as hook:
        stream_service.policies.put_policy(ADMIN, "sensors", {"webhook_url": hook.url})

        def ingest(events: list[dict[str, float]]) -> dict:
            clock.advance(seconds=1)
            result = stream_service.streams.ingest(ADMIN, "sensors", events, settings=settings)
            return result.to_json()

        assert ingest([normal] * 3)["anomalies"] == []
        opened = ingest([low])
        assert [c["change"] for c in opened["incidents"]] == ["opened"]
        incident = opened["anomalies"][0]["incident"]
        assert opened["incidents"][0]["started_at"] == clock().isoformat()
        escalated = ingest([normal, high, low])
        assert [c["change"] for c in escalated["incidents"]] == ["escalated"]
        assert {a["incident"] for a in escalated["anomalies"]} == {incident}
        assert ingest([normal] * 2)["incidents"] == []
        clock.advance(seconds=10)
        resolved = ingest([normal])
        assert [c["change"] for c in resolved["incidents"]] == ["resolved"]

        posts = hook.wait_for(3)
        # Nothing more arrives: one post per change, not one per event.
        assert len(hook.wait_for(4, timeout=0.5)) == 3
    assert all(signed for _, signed in posts)
    changes = [body["details"]["change"] for body, _ in posts]
    assert sorted(changes) == ["escalated", "opened", "resolved"]
    assert {body["kind"] for body, _ in posts} == {"incident"}

    (stored,) = stream_service.streams.list_incidents(ADMIN, "sensors")
    assert stored["id"] == incident and stored["status"] == "resolved"
    assert stored["events"] == 3
    assert stored["explanation"]
    assert stream_service.streams.list_incidents(ADMIN, "sensors", status="open") == []
    acknowledged = stream_service.streams.acknowledge_incident(ADMIN, "sensors", incident)
    assert acknowledged["acknowledged_by"] == ADMIN.actor
