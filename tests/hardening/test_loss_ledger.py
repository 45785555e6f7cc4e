"""The loss ledger: a live writer's file is left alone, a dead one's loss is counted once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vigil.registry.db import create_engine_for, upgrade
from vigil.serving.loss_ledger import DeadWriter, LossLedger, collect_dead_writers
from vigil.serving.prediction_log import LoggedPrediction, PredictionLog


def test_a_live_writer_is_skipped_and_a_dead_one_is_collected_once(tmp_path: Path) -> None:
    live = LossLedger(tmp_path, "host:1:live")
    dead = LossLedger(tmp_path, "host:2:dead")
    dead.add_accepted(7)
    dead.add_written(5)
    dead.close(remove=False)  # as a killed process leaves it: unlocked, counts on disk
    live.add_accepted(3)
    seen: list[DeadWriter] = []
    assert collect_dead_writers(tmp_path, seen.append) == seen
    assert [(w.instance, w.accepted, w.written, w.lost) for w in seen] == [("host_2_dead", 7, 5, 2)]
    assert collect_dead_writers(tmp_path, seen.append) == []  # removed once counted
    assert [p.name for p in tmp_path.iterdir()] == ["host_1_live.counts"]
    live.close(remove=True)
    assert list(tmp_path.iterdir()) == []


def test_a_writer_whose_recording_fails_is_kept_for_the_next_start(tmp_path: Path) -> None:
    dead = LossLedger(tmp_path, "gone")
    dead.add_accepted(4)
    dead.close(remove=False)

    def failing(_: DeadWriter) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        collect_dead_writers(tmp_path, failing)
    assert [w.lost for w in collect_dead_writers(tmp_path, lambda w: None)] == [4]


def test_the_log_records_a_dead_writers_loss_and_a_clean_stop_leaves_no_file(
    tmp_path: Path,
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade(engine)
    ledgers = tmp_path / "prediction-log"
    killed = LossLedger(ledgers, "killed")
    killed.add_accepted(10)
    killed.add_written(6)
    killed.close(remove=False)

    def now() -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    log = PredictionLog(engine, now, ledger_dir=ledgers, instance="next")
    log.start()
    assert [w.lost for w in log.recovered] == [4]
    assert log.lost_total() == 4
    log.stop()
    assert list(ledgers.iterdir()) == []
    # Nothing new to count at a later start.
    again = PredictionLog(engine, now, ledger_dir=ledgers, instance="later")
    again.start()
    again.stop()
    assert again.recovered == [] and again.lost_total() == 4
    engine.dispose()


def test_a_batch_committed_just_before_the_kill_is_not_counted_as_lost(tmp_path: Path) -> None:
    # The process died after its batch's commit reached the database and before it counted
    # the batch as written: the file names the batch, the database settles it.
    engine = create_engine_for(f"sqlite:///{tmp_path / 'vigil.db'}")
    upgrade(engine)

    def now() -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    records = [
        LoggedPrediction(f"p{i}", "default", "m", 1, False, {"x": i}, {"score": 0.5}, 10.0, now())
        for i in range(3)
    ]
    PredictionLog(engine, now).append(records)  # no writer thread: written at once
    ledgers = tmp_path / "prediction-log"
    committed = LossLedger(ledgers, "committed")
    committed.add_accepted(5)
    committed.begin_write(3, "p0")  # in the database
    committed.close(remove=False)
    unwritten = LossLedger(ledgers, "unwritten")
    unwritten.add_accepted(4)
    unwritten.begin_write(4, "never-written")
    unwritten.close(remove=False)

    log = PredictionLog(engine, now, ledger_dir=ledgers, instance="next")
    log.start()
    log.stop()
    assert {(w.instance, w.written, w.lost) for w in log.recovered} == {
        ("committed", 3, 2),
        ("unwritten", 0, 4),
    }
    assert log.lost_total() == 6
    engine.dispose()
