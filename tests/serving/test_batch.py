"""Batch scoring in chunks: same answers as one call, written incrementally and atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_support import ADMIN, MODEL, readings
from sqlalchemy import select
from typer.testing import CliRunner

from vigil.cli.main import app
from vigil.errors import InvalidInput
from vigil.registry.tables import PredictionRow
from vigil.service import VigilService
from vigil.serving.batch import iter_chunks, predictions_frame, score_file, streamable

WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
    ".jsonl": lambda frame, path: frame.to_json(path, orient="records", lines=True),
}
READERS = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".jsonl": lambda path: pd.read_json(path, lines=True, dtype=False),
}


def _numbered(chunk: pd.DataFrame) -> list[dict[str, Any]]:
    """A stand-in model: echoes each row's ``n`` so order and completeness can be checked."""
    return [{"id": f"p{n}", "version": 1, "prediction": int(n) * 2} for n in chunk["n"]]


@pytest.mark.parametrize("source_suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("output_suffix", [".csv", ".parquet", ".jsonl"])
def test_every_row_is_scored_once_in_order_across_chunks(
    tmp_path: Path, source_suffix: str, output_suffix: str
) -> None:
    source = tmp_path / f"in{source_suffix}"
    WRITERS[source_suffix](pd.DataFrame({"n": range(103), "x": 1.5}), source)
    output = tmp_path / f"out{output_suffix}"
    fractions: list[float] = []

    summary = score_file(
        source, output, _numbered, chunk_rows=10, progress=lambda f, m: fractions.append(f)
    )

    written = READERS[output_suffix](output)
    assert summary.rows == 103 and summary.chunks == 11
    assert written["prediction"].tolist() == [n * 2 for n in range(103)]
    assert written["id"].tolist() == [f"p{n}" for n in range(103)]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_a_failure_midway_leaves_no_output_and_no_temporary_file(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pd.DataFrame({"n": range(50)}).to_parquet(source)
    output = tmp_path / "out.parquet"
    output.write_text("the previous run's answers")

    def failing(chunk: pd.DataFrame) -> list[dict[str, Any]]:
        if chunk["n"].iloc[0] >= 30:
            raise InvalidInput("row 30 is bad")
        return _numbered(chunk)

    with pytest.raises(InvalidInput, match="row 30"):
        score_file(source, output, failing, chunk_rows=10)

    assert output.read_text() == "the previous run's answers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]


def test_an_explanation_column_empty_in_the_first_chunk_takes_text_later(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"n": range(20)}).to_csv(source, index=False)

    def explained(chunk: pd.DataFrame) -> list[dict[str, Any]]:
        answers = _numbered(chunk)
        for answer, n in zip(answers, chunk["n"], strict=True):
            if n >= 15:
                answer["explanation"] = [{"feature": "n", "value": int(n)}]
        return answers

    output = tmp_path / "out.parquet"
    score_file(source, output, explained, chunk_rows=10, explain=True)

    table = pq.read_table(output)
    kind = table.schema.field("explanation").type
    assert pa.types.is_string(kind) or pa.types.is_large_string(kind)
    assert table.column("explanation").to_pylist()[14:16] == ["", "n=15"]


@pytest.mark.parametrize(
    ("source", "output", "message"),
    [
        ("in.csv", "out.xlsx", "unknown suffix"),
        ("in.csv", "missing/out.csv", "does not exist"),
        ("missing.csv", "out.csv", "does not exist"),
        ("in.log", "out.csv", "cannot be scored in chunks"),
    ],
)
def test_refusals_name_what_is_wrong(
    tmp_path: Path, source: str, output: str, message: str
) -> None:
    pd.DataFrame({"n": [1]}).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.log").write_text("a line\n")

    with pytest.raises(InvalidInput, match=message):
        score_file(tmp_path / source, tmp_path / output, _numbered)

    assert not (tmp_path / output).exists()


def test_a_malformed_file_is_refused_as_invalid_input(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"n": 1}\n{"n": \n')

    with pytest.raises(InvalidInput, match="not valid jsonl"):
        list(iter_chunks(source, 1))


def test_streamable_formats_are_tables_not_raw_lines() -> None:
    assert streamable(Path("a.CSV")) and streamable(Path("b.parquet"))
    assert not streamable(Path("c.log")) and not streamable(Path("d.xlsx"))


def test_predictions_frame_flattens_probabilities() -> None:
    frame = predictions_frame(
        [{"id": "a", "version": 1, "prediction": "yes", "probabilities": {"no": 0.2, "yes": 0.8}}]
    )
    assert frame.columns.tolist() == [
        "id",
        "version",
        "prediction",
        "probability_no",
        "probability_yes",
    ]
    assert frame.iloc[0].tolist() == ["a", 1, "yes", 0.2, 0.8]


def test_the_service_scores_a_file_as_predict_answers_the_whole_table(
    service: VigilService, tmp_path: Path
) -> None:
    rows = readings(250, seed=3)
    source = tmp_path / "big.parquet"
    rows.to_parquet(source, index=False)
    output = tmp_path / "scored.parquet"

    summary = service.predictions.predict_file(
        ADMIN, MODEL, source, output, chunk_rows=64, log=False
    )

    expected = service.predictions.predict(ADMIN, MODEL, rows).predictions
    written = pd.read_parquet(output)
    assert summary["rows"] == 250 and summary["chunks"] == 4 and summary["version"] == 1
    assert written["score"].tolist() == pytest.approx([p["score"] for p in expected], abs=1e-12)
    assert written["severity"].tolist() == [p["severity"] for p in expected]
    assert written["id"].is_unique


def test_logged_file_scoring_records_every_prediction(
    service: VigilService, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    readings(90, seed=4).to_csv(source, index=False)

    service.predictions.predict_file(ADMIN, MODEL, source, tmp_path / "out.jsonl", chunk_rows=40)

    written = pd.read_json(tmp_path / "out.jsonl", lines=True)
    with service.store.engine.connect() as connection:
        logged = connection.execute(select(PredictionRow.id)).scalars().all()
    assert len(written) == 90 and sorted(logged) == sorted(written["id"])


def test_the_command_streams_with_json_summary(
    service: VigilService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(service.settings.home))
    source = tmp_path / "rows.parquet"
    readings(70, seed=5).to_parquet(source, index=False)
    output = tmp_path / "out.csv"

    result = CliRunner().invoke(
        app, ["predict", MODEL, str(source), "--output", str(output), "--no-log", "--json"]
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == MODEL and summary["rows"] == 70 and summary["logged"] is False
    assert len(pd.read_csv(output)) == 70


def test_reading_a_parquet_file_holds_one_row_group_at_a_time(tmp_path: Path) -> None:
    source = tmp_path / "wide.parquet"
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(80_000, 20)), columns=[f"c{i}" for i in range(20)]
    )
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source, row_group_size=2000)
    # The pool is per process: what earlier tests in this worker left allocated is not ours.
    baseline = pa.total_allocated_bytes()
    peak = 0

    for _chunk, _fraction in iter_chunks(source, chunk_rows=2000):
        peak = max(peak, pa.total_allocated_bytes() - baseline)

    # The whole table is 12.8 MB; pre-buffering every row group would hold more than that.
    assert peak < frame.memory_usage().sum() / 4
