"""Batch scoring of a file too big to hold: read in chunks, score each, write as it goes.

``score_file`` reads a CSV / TSV, Parquet or JSON Lines file ``chunk_rows``
rows at a time (pyarrow's ``iter_batches`` for Parquet, pandas' chunked
readers for text), hands each chunk to a scoring function, and appends the
answers to the output (a ``ParquetWriter``, or text appended to the file).
Memory is bounded by a chunk, not by the file. The output is written beside
its target under a temporary name and renamed into place only once every
chunk is written, so a failure (a bad row in chunk 900, an interrupt) leaves
no half-written output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.data.loading import FORMATS, detect_format
from vigil.data.writing import WRITABLE
from vigil.errors import InvalidInput

__all__ = [
    "CHUNK_ROWS",
    "BatchSummary",
    "iter_chunks",
    "predictions_frame",
    "score_file",
    "streamable",
]

# Rows scored at once. Reading a Parquet file costs a decoded row group whatever the
# chunk (about 300 MB for 131,072 rows of 78 columns) on top of the ~350 MB of the
# process and its model; 16,384 rows of answers keep the peak near 0.8 GB (1.1 GB
# with 65,536), under the 1 GB bound at any number of rows.
CHUNK_ROWS = 16_384
# Formats read in chunks (raw log lines are parsed whole, by the model's extractor).
STREAMABLE = ("csv", "tsv", "parquet", "jsonl")

Score = Callable[[pd.DataFrame], list[dict[str, Any]]]
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did: rows scored, chunks, and where the answers are."""

    rows: int
    chunks: int
    output: Path


def predictions_frame(predictions: list[dict[str, Any]], *, explain: bool = False) -> pd.DataFrame:
    """Returns predictions as a flat table: ``probability_<label>`` columns, explanations as text.

    With ``explain`` the ``explanation`` column is always there (empty for a
    row without one), so that every chunk of a run has the same columns.
    """
    flat = []
    for p in predictions:
        row = {k: v for k, v in p.items() if k not in ("probabilities", "explanation")}
        for label, value in (p.get("probabilities") or {}).items():
            row[f"probability_{label}"] = value
        if explain or "explanation" in p:
            row["explanation"] = "; ".join(
                f"{e['feature']}={e['value']}" for e in p.get("explanation") or []
            )
        flat.append(row)
    return pd.DataFrame(flat)


def streamable(path: Path) -> bool:
    """Returns whether ``path`` names a table format read in chunks (by its suffix)."""
    return FORMATS.get(path.suffix.lower()) in STREAMABLE


def iter_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[pd.DataFrame, float]]:
    """Yields ``(chunk, fraction of the file read)`` for a CSV, TSV, Parquet or JSON Lines file."""
    if chunk_rows < 1:
        raise InvalidInput(f"chunk_rows must be at least 1, got {chunk_rows}.")
    fmt = detect_format(path.name)
    if fmt not in STREAMABLE:
        raise InvalidInput(
            f"{path.name} cannot be scored in chunks; use one of "
            f"{', '.join(sorted(s for s, f in FORMATS.items() if f in STREAMABLE))}."
        )
    if not path.is_file():
        raise InvalidInput(f"Data file {path} does not exist.")
    try:
        if fmt == "parquet":
            yield from _parquet_chunks(path, chunk_rows)
        else:
            yield from _text_chunks(path, fmt, chunk_rows)
    except (ValueError, pd.errors.ParserError, pa.ArrowException, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"Data file {path} is not valid {fmt}: {first_line}.") from exc


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, float]]:
    # Without pre_buffer=False pyarrow keeps every row group it pre-buffered until the
    # file is closed: memory then grows with the file (7 GB for 10 million rows).
    source = pq.ParquetFile(path, pre_buffer=False)
    total = max(source.metadata.num_rows, 1)
    done = 0
    for batch in source.iter_batches(batch_size=chunk_rows):
        done += batch.num_rows
        yield batch.to_pandas(), done / total


def _text_chunks(path: Path, fmt: str, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, float]]:
    size = max(path.stat().st_size, 1)
    with path.open("rb") as handle:
        reader: Any
        if fmt == "jsonl":
            # dtype=False as whole-file reading does: a column keeps the types it was sent in.
            reader = pd.read_json(handle, lines=True, chunksize=chunk_rows, dtype=False)
        else:
            reader = pd.read_csv(handle, sep="\t" if fmt == "tsv" else ",", chunksize=chunk_rows)
        with reader:
            for chunk in reader:
                # The parser reads ahead, so the position is approximate: enough for a bar.
                yield chunk, min(handle.tell() / size, 1.0)


class _Sink:
    """An output file written chunk by chunk under a temporary name, renamed on ``commit``."""

    def __init__(self, target: Path, *, explain: bool) -> None:
        self.target = target
        self.format = WRITABLE.get(target.suffix.lower())
        if self.format is None:
            raise InvalidInput(
                f"Cannot write {target.name}: unknown suffix {target.suffix or '(none)'!r}; "
                f"use one of {', '.join(sorted(WRITABLE))}."
            )
        if not target.parent.is_dir():
            raise InvalidInput(f"Cannot write {target}: folder {target.parent} does not exist.")
        self.explain = explain
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        self.temp = Path(temp)
        self._parquet: pq.ParquetWriter | None = None
        self._text: IO[str] | None = None
        self._columns: list[str] | None = None

    def __enter__(self) -> _Sink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._close()
        if kind is not None:
            self.temp.unlink(missing_ok=True)

    def write(self, frame: pd.DataFrame) -> None:
        """Appends one chunk's answers (with the first chunk's columns)."""
        if self._columns is None:
            self._columns = list(frame.columns)
        else:
            frame = frame.reindex(columns=self._columns)
        if self.format == "parquet":
            self._write_parquet(frame)
            return
        if self._text is None:
            self._text = self.temp.open("w", encoding="utf-8", newline="")
            first = True
        else:
            first = False
        if self.format == "csv":
            frame.to_csv(self._text, index=False, header=first)
        else:
            text = frame.to_json(orient="records", lines=True, date_format="iso") or ""
            self._text.write(text if text.endswith("\n") else text + "\n")

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        if self._parquet is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            # A column empty in the first chunk (explanations of normal rows) has no type
            # yet; text is what later chunks put there.
            schema = pa.schema(
                [
                    field.with_type(pa.string()) if pa.types.is_null(field.type) else field
                    for field in table.schema
                ]
            )
            self._parquet = pq.ParquetWriter(self.temp, schema.remove_metadata())
        table = pa.Table.from_pandas(frame, schema=self._parquet.schema, preserve_index=False)
        self._parquet.write_table(table)

    def commit(self) -> None:
        """Closes the file and puts it in place of the target."""
        if self._columns is None:
            raise InvalidInput("The data file has no rows.")
        self._close()
        os.replace(self.temp, self.target)

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._text is not None:
            self._text.close()
            self._text = None


def score_file(
    source: Path,
    output: Path,
    score: Score,
    *,
    chunk_rows: int = CHUNK_ROWS,
    explain: bool = False,
    progress: Progress | None = None,
) -> BatchSummary:
    """Scores ``source`` chunk by chunk with ``score`` and writes the answers to ``output``.

    ``score`` returns one prediction dict per row of a chunk, in order. The
    output appears whole, once every chunk is written, or not at all.
    """
    report = progress or (lambda fraction, message: None)
    rows = chunks = 0
    with _Sink(output, explain=explain) as sink:
        for chunk, fraction in iter_chunks(source, chunk_rows):
            if chunk.empty:
                continue
            predictions = score(chunk)
            sink.write(predictions_frame(predictions, explain=explain))
            rows += len(chunk)
            chunks += 1
            report(fraction, f"{rows:,} rows")
        sink.commit()
    return BatchSummary(rows=rows, chunks=chunks, output=output)
