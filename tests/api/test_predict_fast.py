"""The predict route's fast path: answered on the event loop, keys cached, logged as sent."""

from __future__ import annotations

import httpx
import pytest
from api_support import Api, ManualClock, churn_rows
from sqlalchemy import select

from process_support import Server
from vigil.api.deps import KeyCache
from vigil.registry.tables import PredictionRow
from vigil.security import Caller

PREDICT = "/v1/models/churn/predict"


def test_one_row_answers_as_the_service_does(api: Api) -> None:
    row = churn_rows(1)
    api.request("POST", PREDICT, role="predictor", json={"instances": row})  # loads the model

    answer = api.request("POST", PREDICT, role="predictor", json={"instances": row})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    (prediction,) = answer.json()["predictions"]
    expected = api.service.predictions.predict(Caller(), "churn", row).predictions[0]
    assert prediction["version"] == expected["version"] == 1
    assert prediction["prediction"] == expected["prediction"]
    assert prediction["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-12)
    assert set(prediction) == {"id", "version", "prediction", "probabilities"}


def test_the_rows_sent_are_the_inputs_logged(api: Api) -> None:
    rows = churn_rows(3)
    for _ in range(2):  # the second request takes the event-loop path
        answer = api.request("POST", PREDICT, role="predictor", json={"instances": rows})
        assert answer.status_code == 200, answer.text
    api.service.prediction_log.flush()

    with api.service.store.engine.connect() as connection:
        stored = dict(connection.execute(select(PredictionRow.id, PredictionRow.inputs)).all())
    assert [stored[p["id"]] for p in answer.json()["predictions"]] == rows


def test_a_bad_value_on_the_fast_path_is_located_in_the_request(api: Api) -> None:
    row = churn_rows(1)
    api.request("POST", PREDICT, role="predictor", json={"instances": row})
    numeric = next(k for k, v in row[0].items() if isinstance(v, int | float))
    bad = [{**row[0], numeric: "lots"}]

    answer = api.request("POST", PREDICT, role="predictor", json={"instances": bad})

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["loc"] == ["body", "instances", 0, numeric]


def test_a_revoked_key_is_refused_once_its_cache_entry_expires(api: Api) -> None:
    clock = ManualClock()
    api.client.app.state.key_cache = KeyCache(ttl=2.0, clock=clock)  # type: ignore[attr-defined]
    row = churn_rows(1)
    assert api.request("POST", PREDICT, role="predictor", json={"instances": row}).is_success
    key_id = api.keys[("default", "predictor")].split("_")[1]

    api.service.stores.keys.revoke(key_id)
    cached = api.request("POST", PREDICT, role="predictor", json={"instances": row})
    clock.advance(2.5)
    expired = api.request("POST", PREDICT, role="predictor", json={"instances": row})

    assert cached.status_code == 200
    assert expired.status_code == 401


def test_unknown_keys_are_never_cached(api: Api) -> None:
    cache = KeyCache()
    api.client.app.state.key_cache = cache  # type: ignore[attr-defined]
    headers = {"Authorization": "Bearer vk_nothere_secret"}
    for _ in range(2):
        answer = api.client.post(PREDICT, json={"instances": churn_rows(1)}, headers=headers)
        assert answer.status_code == 401
    assert cache._entries == {}


def test_the_key_cache_forgets_after_its_ttl_and_when_full() -> None:
    clock = ManualClock()
    cache = KeyCache(ttl=2.0, max_entries=2, clock=clock)
    cache.put(b"a", Caller(actor="a"))
    clock.advance(2.0)
    assert cache.get(b"a") == Caller(actor="a")
    clock.advance(0.1)
    assert cache.get(b"a") is None

    cache.put(b"b", Caller(actor="b"))
    cache.put(b"c", Caller(actor="c"))  # full: starts over
    assert cache.get(b"b") is None and cache.get(b"c") == Caller(actor="c")


def test_a_real_server_answers_repeated_single_rows_the_same(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    row = churn_rows(1)
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        answers = [client.post(PREDICT, json={"instances": row}) for _ in range(40)]

    assert all(a.status_code == 200 for a in answers), [a.text for a in answers[:3]]
    predictions = [a.json()["predictions"][0] for a in answers]
    assert len({p["id"] for p in predictions}) == 40
    assert len({(p["version"], p["prediction"]) for p in predictions}) == 1
    assert len({a.headers["x-request-id"] for a in answers}) == 40
