"""Reading CSV, Parquet, JSON Lines and raw log files into a DataFrame with a content fingerprint.

A raw log file (``.log``, ``.txt``) becomes a one-column table ``line``, one
row per line of the file, blank lines included so that line numbers stay
true; the log feature extractor parses it, counting malformed lines instead
of failing on them. ``load_dataset(path, lines=True)`` reads a JSON Lines
file the same way, for the same tolerance.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vigil.data.limits import check_columns, header_columns
from vigil.errors import InvalidInput

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".log": "lines",
    ".txt": "lines",
}
# The column of a raw-lines table.
LINE_COLUMN = "line"


@dataclass(frozen=True)
class Dataset:
    """A table read from somewhere, with the sha256 of the bytes it came from."""

    frame: pd.DataFrame
    fingerprint: str
    format: str
    source: str

    @property
    def rows(self) -> int:
        """Returns the number of rows."""
        return len(self.frame)


def detect_format(name: str) -> str:
    """Returns the format implied by a file name's suffix, or raises naming what is allowed."""
    suffix = Path(name).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        allowed = ", ".join(sorted(FORMATS))
        shown = suffix or "(none)"
        raise InvalidInput(
            f"Unknown data format {shown!r} for {name}; use one of {allowed}."
        ) from None


def load_dataset(path: str | Path, *, lines: bool = False) -> Dataset:
    """Returns the table in the file at ``path`` with its content fingerprint.

    The fingerprint is the sha256 of the file's bytes, so the same file gives
    the same fingerprint wherever it is read. With ``lines``, a JSON Lines file
    is read as raw lines (one ``line`` column) for a log parser to read.
    """
    file = Path(path)
    fmt = detect_format(file.name)
    if lines and fmt == "jsonl":
        fmt = "lines"
    if not file.exists():
        raise InvalidInput(f"Data file {file} does not exist.")
    if not file.is_file():
        raise InvalidInput(f"Data path {file} is not a file.")
    try:
        payload = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"Data file {file} cannot be read: {exc.strerror}.") from exc
    frame = read_table(payload, fmt, str(file))
    return Dataset(frame, hashlib.sha256(payload).hexdigest(), fmt, str(file))


def read_table(
    payload: bytes, fmt: str, source: str, *, max_columns: int | None = None
) -> pd.DataFrame:
    """Returns the DataFrame parsed from ``payload`` in format ``fmt``.

    Raises ``InvalidInput`` naming ``source`` when the bytes are not that format,
    hold no rows, or (with ``max_columns``) more columns than that — read from
    the header before parsing, so a huge header costs nothing.
    """
    if not payload.strip():
        raise InvalidInput(f"Data file {source} is empty.")
    if max_columns is not None:
        declared = header_columns(payload, fmt)
        if declared is not None:
            check_columns(declared, max_columns, f"file {source}")
    try:
        if fmt in ("csv", "tsv"):
            frame = pd.read_csv(io.BytesIO(payload), sep="\t" if fmt == "tsv" else ",")
        elif fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(payload))
        elif fmt == "jsonl":
            frame = pd.read_json(io.BytesIO(payload), lines=True, dtype=False)
        elif fmt == "lines":
            return read_lines(payload)
        else:
            raise InvalidInput(f"Unknown data format {fmt!r} for {source}.")
    except InvalidInput:
        raise
    except (ValueError, pd.errors.ParserError, pa.ArrowException, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"Data file {source} is not valid {fmt}: {first_line}.") from exc
    if frame.empty:
        raise InvalidInput(f"Data file {source} has no rows.")
    if max_columns is not None:
        check_columns(len(frame.columns), max_columns, f"file {source}")
    frame.columns = [str(c) for c in frame.columns]
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise InvalidInput(f"Data file {source} has the column {duplicated[0]!r} twice.")
    return frame


def read_lines(payload: bytes) -> pd.DataFrame:
    """Returns the lines of ``payload`` as a one-column ``line`` table.

    Bytes that are not UTF-8 are replaced rather than refused (one bad byte
    must not hide a million good lines); a final newline does not make an
    empty last line, and a carriage return before a newline is dropped.
    """
    try:
        # Arrow splits valid UTF-8 without making a Python string per line.
        text = pa.array([payload], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        decoded = payload.decode("utf-8", errors="replace")
        text = pa.array([decoded], pa.large_string())
    lines = pc.split_pattern(text, "\n").flatten()
    if len(lines) and lines[len(lines) - 1].as_py() == "":
        lines = lines.slice(0, len(lines) - 1)
    lines = pc.utf8_rtrim(lines, "\r")
    if (pc.sum(pc.binary_length(lines)).as_py() or 0) < 2**31 - 1:
        # 32-bit offsets are what the log parser's Arrow kernels take.
        lines = lines.cast(pa.string())
    return pd.DataFrame({LINE_COLUMN: pd.Series(lines, dtype="str")})
