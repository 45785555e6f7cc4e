"""Schema inference and validation of new rows against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vigil.data.schema import ColumnSchema, conform, infer_schema
from vigil.errors import InvalidInput


def test_kinds_are_inferred_from_values() -> None:
    frame = pd.DataFrame(
        {
            "age": [31, 45, 27, 52],
            "plan": ["basic", "pro", "basic", "pro"],
            "note": [
                "the invoice was wrong again today",
                "support solved my issue quickly thanks",
                "cannot log in since the last update",
                "pricing page is confusing for teams",
            ],
            "at": ["2024-01-01T10:00:00", "2024-01-02T11:00:00", "2024-01-03", "2024-02-01"],
            "active": ["true", "false", "TRUE", "false"],
        }
    )
    kinds = {c.name: c.kind for c in infer_schema(frame)}
    assert kinds == {
        "age": "numeric",
        "plan": "categorical",
        "note": "text",
        "at": "datetime",
        "active": "boolean",
    }


def test_entirely_empty_column_is_refused_by_name() -> None:
    frame = pd.DataFrame({"a": [1, 2], "empty": [np.nan, np.nan]})
    with pytest.raises(InvalidInput, match="Column 'empty' is entirely empty"):
        infer_schema(frame)


def test_conform_ignores_extra_columns_and_keeps_order() -> None:
    schema = [ColumnSchema("x", "numeric", "float64"), ColumnSchema("c", "categorical", "object")]
    frame = pd.DataFrame({"extra": [1, 2], "c": ["a", None], "x": ["1.5", 2]})
    out = conform(frame, schema)
    assert list(out.columns) == ["x", "c"]
    assert out["x"].tolist() == [1.5, 2.0]
    assert pd.isna(out["c"].iloc[1])


def test_missing_feature_column_is_named() -> None:
    schema = [ColumnSchema("x", "numeric", "float64"), ColumnSchema("y", "numeric", "float64")]
    with pytest.raises(InvalidInput, match="Missing feature column 'y'"):
        conform(pd.DataFrame({"x": [1.0]}), schema)


def test_wrong_type_names_column_and_first_row() -> None:
    schema = [ColumnSchema("x", "numeric", "float64")]
    frame = pd.DataFrame({"x": [1, 2, "three", "four"]})
    with pytest.raises(InvalidInput, match=r"Column 'x' must be a number, but row 2 holds 'three'"):
        conform(frame, schema)


@pytest.mark.parametrize("value", ["inf", "-inf", "1e999", float("inf")])
def test_an_infinite_number_is_refused_with_column_and_row(value: object) -> None:
    schema = [ColumnSchema("x", "numeric", "float64")]
    with pytest.raises(
        InvalidInput, match=r"Column 'x' must be a finite number, but row 1 holds"
    ) as e:
        conform(pd.DataFrame({"x": [1.0, value]}), schema)
    assert e.value.errors == [{"loc": ["data", 1, "x"], "msg": "must be a finite number"}]


def test_missing_values_are_not_type_errors() -> None:
    schema = [ColumnSchema("x", "numeric", "float64"), ColumnSchema("t", "datetime", "object")]
    out = conform(pd.DataFrame({"x": [None, 1], "t": [None, "2024-01-01"]}), schema)
    assert np.isnan(out["x"].iloc[0])
    assert pd.isna(out["t"].iloc[0])
