"""A batch's incident changes raise their alerts together, each still posted once."""

from __future__ import annotations

from stream_support import ADMIN, incident_model, webhook_receiver

from vigil.service import VigilService


def test_a_batch_that_opens_and_escalates_posts_each_change_once(
    stream_service: VigilService,
) -> None:
    low, high = incident_model(stream_service)
    normal = {"a": 0.1, "b": -0.2}
    clock = stream_service.now
    settings = {"incident_gap": "3s", "incident_quiet": "5s"}
    with webhook_receiver(stream_service.settings.secret_key) as hook:
        stream_service.policies.put_policy(ADMIN, "sensors", {"webhook_url": hook.url})
        clock.advance(seconds=1)
        # One batch: the low anomaly opens the incident, the high one escalates it.
        result = stream_service.streams.ingest(
            ADMIN, "sensors", [normal, low, high, low], settings=settings
        ).to_json()
        assert [c["change"] for c in result["incidents"]] == ["opened", "escalated"]
        posts = hook.wait_for(2)
        assert len(hook.wait_for(3, timeout=0.5)) == 2

        # The same incident again in the next batch: no new change, no post.
        clock.advance(seconds=1)
        assert (
            stream_service.streams.ingest(ADMIN, "sensors", [high], settings=settings).to_json()[
                "incidents"
            ]
            == []
        )
        assert len(hook.wait_for(3, timeout=0.5)) == 2
    assert all(signed for _, signed in posts)
    assert sorted(body["details"]["change"] for body, _ in posts) == ["escalated", "opened"]
    incident = result["anomalies"][0]["incident"]
    assert {body["details"]["id"] for body, _ in posts} == {incident}
    raised = stream_service.alerts.list_alerts(ADMIN, "sensors")
    assert sorted(a["dedup_key"].split(":")[2] for a in raised) == ["escalated", "opened"]
    assert {a["severity"] for a in raised} <= {"warning", "critical"}
