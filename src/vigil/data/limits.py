"""Bounded tables: columns per dataset and cells per training table (issue 15).

A 2-row CSV of 200,000 columns is a few megabytes, under every body limit,
and it trained for nine minutes. The column count is read from the header
line (or the Parquet footer) before the file is parsed, so such an upload is
refused in milliseconds; the cell count (rows x columns) bounds what one
training job may hold in memory.
"""

from __future__ import annotations

import csv
import io

from vigil.errors import InvalidInput


def header_columns(payload: bytes, fmt: str) -> int | None:
    """Returns how many columns the file declares, without parsing its rows (None: unknown)."""
    if fmt in ("csv", "tsv"):
        end = payload.find(b"\n")
        first = payload[: end if end >= 0 else len(payload)].decode("utf-8", errors="replace")
        for row in csv.reader([first], delimiter="\t" if fmt == "tsv" else ","):
            return len(row)
        return 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.read_metadata(io.BytesIO(payload)).num_columns)
        except Exception:  # not Parquet: the reader says so in its own words
            return None
    return None


def check_columns(count: int, limit: int, source: str) -> None:
    """Raises ``InvalidInput`` when a table has more than ``limit`` columns."""
    if count > limit:
        raise InvalidInput(
            f"Data {source} has {count:,} columns; the limit is {limit:,} per dataset "
            "(VIGIL_MAX_COLUMNS). Select the columns you need first.",
            errors=[{"loc": ["data"], "msg": f"more than {limit} columns"}],
        )


def check_cells(rows: int, columns: int, limit: int, source: str) -> None:
    """Raises ``InvalidInput`` when a training table has more than ``limit`` cells."""
    if rows * columns > limit:
        raise InvalidInput(
            f"Data {source} has {rows:,} rows x {columns:,} columns = {rows * columns:,} cells; "
            f"the limit is {limit:,} per training job (VIGIL_MAX_CELLS). Sample the rows or "
            "select columns.",
            errors=[{"loc": ["data"], "msg": f"more than {limit} cells"}],
        )
