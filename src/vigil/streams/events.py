"""A table's rows as a client sends them as stream events (JSON objects).

What a log shipper or a script pushing a CSV sends: one object per row,
times as ISO 8601 text, numbers exact. The tests and ``benchmarks/streams.py``
build their streams with it, so both send what a client would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pandas as pd


def events_of(frame: pd.DataFrame, leave_out: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Returns the rows of ``frame`` as JSON event objects, the columns ``leave_out`` left out.

    Floats go through orjson, exactly (``DataFrame.to_json`` rounds them to 10
    digits); missing values become null.

    >>> events_of(pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"]), "value": [0.1]}))
    [{'timestamp': '2024-01-01T00:00:00', 'value': 0.1}]
    """
    dropped = set(leave_out)
    plain = frame.drop(columns=[c for c in frame.columns if c in dropped]).copy()
    for column in plain.columns:
        if pd.api.types.is_datetime64_any_dtype(plain[column]):
            plain[column] = plain[column].map(lambda t: None if pd.isna(t) else t.isoformat())
    rows: list[dict[str, Any]] = orjson.loads(
        orjson.dumps(plain.to_dict(orient="records"), option=orjson.OPT_SERIALIZE_NUMPY)
    )
    return rows
