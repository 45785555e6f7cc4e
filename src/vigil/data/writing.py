"""Writing tables to CSV, Parquet or JSON Lines, chosen by the file's suffix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from vigil.errors import InvalidInput

WRITABLE = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Writes ``frame`` to ``path`` atomically; the suffix picks the format.

    The file appears whole or not at all: it is written beside the target and
    renamed into place, so an interrupted run never leaves half a file.
    """
    target = Path(path)
    fmt = WRITABLE.get(target.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"Cannot write {target.name}: unknown suffix {target.suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(WRITABLE))}."
        )
    if not target.parent.exists():
        raise InvalidInput(f"Cannot write {target}: folder {target.parent} does not exist.")
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        if fmt == "csv":
            frame.to_csv(temp, index=False)
        elif fmt == "parquet":
            frame.to_parquet(temp, index=False)
        else:
            frame.to_json(temp, orient="records", lines=True, date_format="iso")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
