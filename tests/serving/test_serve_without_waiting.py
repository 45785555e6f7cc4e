"""``predict(block=False)``: answers only what needs no wait, else WouldBlock before any work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from serving_support import ADMIN, MODEL, readings
from sqlalchemy import select

from vigil.registry.tables import PredictionRow
from vigil.service import VigilService
from vigil.serving.model_cache import ModelCache, WouldBlock
from vigil.usecases.predictions import INLINE_MAX_ROWS


def _rows(count: int) -> list[dict[str, object]]:
    frame = readings(count, seed=9).astype(object)
    return frame.where(frame.notna(), None).to_dict(orient="records")


def test_a_cold_model_would_block_then_answers_once_warm(service: VigilService) -> None:
    service.prediction_log.start()
    rows = _rows(1)
    with pytest.raises(WouldBlock):
        service.predictions.predict(ADMIN, MODEL, rows, block=False)
    assert service.prediction_log.stats.pending == 0  # refused before anything was logged

    warm = service.predictions.predict(ADMIN, MODEL, rows)
    inline = service.predictions.predict(ADMIN, MODEL, rows, block=False)

    assert inline.version == warm.version == 1
    answer = {k: v for k, v in inline.predictions[0].items() if k != "id"}
    assert answer == {k: v for k, v in warm.predictions[0].items() if k != "id"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": 1},  # a pinned version is checked in the database
        {"explain": True},  # explanations come from the bundle
    ],
)
def test_requests_that_need_more_than_the_compiled_path_would_block(
    service: VigilService, kwargs: dict[str, object]
) -> None:
    service.prediction_log.start()
    service.predictions.predict(ADMIN, MODEL, _rows(1))
    with pytest.raises(WouldBlock):
        service.predictions.predict(ADMIN, MODEL, _rows(1), block=False, **kwargs)  # type: ignore[arg-type]


def test_a_big_batch_or_a_table_would_block(service: VigilService) -> None:
    service.prediction_log.start()
    service.predictions.predict(ADMIN, MODEL, _rows(1))
    service.predictions.predict(ADMIN, MODEL, _rows(INLINE_MAX_ROWS), block=False)
    with pytest.raises(WouldBlock):
        service.predictions.predict(ADMIN, MODEL, _rows(INLINE_MAX_ROWS + 1), block=False)
    with pytest.raises(WouldBlock):
        service.predictions.predict(ADMIN, MODEL, readings(2), block=False)


def test_without_the_log_writer_thread_it_would_block(service: VigilService) -> None:
    service.predictions.predict(ADMIN, MODEL, _rows(1))
    with pytest.raises(WouldBlock):
        service.predictions.predict(ADMIN, MODEL, _rows(1), block=False)


def test_rows_sent_as_mappings_are_logged_as_sent(service: VigilService) -> None:
    rows = _rows(3)
    result = service.predictions.predict(ADMIN, MODEL, rows)
    with service.store.engine.connect() as connection:
        stored = dict(connection.execute(select(PredictionRow.id, PredictionRow.inputs)).all())
    assert [stored[p["id"]] for p in result.predictions] == rows


def test_the_cache_serves_without_waiting_only_what_is_loaded() -> None:
    loads: list[int] = []

    def load(tenant: str, name: str, version: int) -> str:
        loads.append(version)
        return f"v{version}"

    cache = ModelCache(load)
    with pytest.raises(WouldBlock):
        cache.serve("t", "m", 1, block=False)
    assert loads == []
    assert cache.serve("t", "m", 1) == (1, "v1")
    assert cache.serve("t", "m", 1, block=False) == (1, "v1")
    # A new version loads in the background while the last one served answers.
    assert cache.serve("t", "m", 2, block=False) == (1, "v1")
    cache.wait_for_loads()
    assert cache.serve("t", "m", 2, block=False) == (2, "v2")


def test_the_service_applies_the_configured_retention(service: VigilService) -> None:
    assert service.prediction_log.retention == timedelta(days=30)
