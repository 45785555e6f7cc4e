"""Session models over a stream: sessions close on the idle timeout in event time, or on flush."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stream_support import ADMIN, pieces

from vigil.data.loading import Dataset
from vigil.errors import InvalidInput
from vigil.service import VigilService
from vigil.streams.scoring import NS, StreamSettings
from vigil.training.trainer import TrainSpec

HDFS = Path(__file__).resolve().parents[3] / "shared" / "data" / "logs" / "HDFS_2k.log"
pytestmark = pytest.mark.skipif(not HDFS.exists(), reason="../shared/data is absent")


def _train_sessions(service: VigilService) -> list[str]:
    lines = HDFS.read_text().splitlines()
    frame = pd.DataFrame({"line": lines[:1500]})
    spec = TrainSpec(
        task="anomaly",
        feature_kind="logs",
        feature_options={"log_format": "hdfs", "session_key": r"blk_-?\d+"},
    )
    service.training.train(ADMIN, "hdfs", Dataset(frame, "a" * 64, "log", "hdfs"), spec)
    return lines[1500:]


def test_sessions_streamed_then_flushed_equal_the_whole_file(stream_service: VigilService) -> None:
    lines = _train_sessions(stream_service)
    # No idle timeout within the file: every session closes at the flush, as in one batch.
    stream_service.streams.settings = StreamSettings(session_timeout_ns=10**6 * NS)
    expected = {
        p["session"]: p["score"]
        for p in stream_service.predictions.predict(
            ADMIN, "hdfs", pd.DataFrame({"line": lines})
        ).predictions
    }
    streamed: dict[str, float] = {}
    for piece in pieces([{"line": line} for line in lines], seed=5):
        result = stream_service.streams.ingest(ADMIN, "hdfs", piece, return_all=True)
        assert result.predictions == []  # nothing idle yet: no session closed
    result = stream_service.streams.ingest(ADMIN, "hdfs", [], flush=True, return_all=True)
    assert result.predictions is not None
    streamed = {p["session"]: p["score"] for p in result.predictions}
    assert streamed.keys() == expected.keys()
    keys = sorted(expected)
    difference = np.abs(
        np.array([streamed[k] for k in keys]) - np.array([expected[k] for k in keys])
    )
    assert difference.max() <= 1e-9


def test_a_session_closes_after_the_idle_timeout_in_event_time(
    stream_service: VigilService,
) -> None:
    _train_sessions(stream_service)
    ingest = stream_service.streams.ingest
    # The model's own timeout, sent once and kept with its stream state.
    assert ingest(ADMIN, "hdfs", [], settings={"session_timeout": "60s"}).accepted == 0
    line = "081109 {} 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block {} done"
    first = line.format("203615", "blk_1")
    other = line.format("203700", "blk_2")
    later = line.format("203900", "blk_2")
    assert (
        stream_service.streams.ingest(ADMIN, "hdfs", [{"line": first}], return_all=True).predictions
        == []
    )
    # 45 s later blk_1 is not idle long enough yet.
    assert (
        stream_service.streams.ingest(ADMIN, "hdfs", [{"line": other}], return_all=True).predictions
        == []
    )
    # Two minutes later (event time) blk_1 has been idle > 60 s and closes; blk_2 is still open.
    closed = stream_service.streams.ingest(ADMIN, "hdfs", [{"line": later}], return_all=True)
    assert [p["session"] for p in closed.predictions or []] == ["blk_1"]
    flushed = stream_service.streams.ingest(ADMIN, "hdfs", [], flush=True, return_all=True)
    assert [p["session"] for p in flushed.predictions or []] == ["blk_2"]


def test_a_stream_setting_that_is_no_duration_is_refused_by_name(
    stream_service: VigilService,
) -> None:
    _train_sessions(stream_service)
    with pytest.raises(InvalidInput) as refused:
        stream_service.streams.ingest(ADMIN, "hdfs", [], settings={"session_timeout": "soon"})
    assert refused.value.errors[0]["loc"] == ["body", "settings", "session_timeout"]
    with pytest.raises(InvalidInput, match="Unknown stream setting"):
        stream_service.streams.ingest(ADMIN, "hdfs", [], settings={"timeout": "1h"})
