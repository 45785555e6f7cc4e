"""Numeric columns refuse booleans and numbers beyond float32, from requests and from files."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from vigil.data.schema import ColumnSchema
from vigil.data.strictness import check_numeric_values
from vigil.errors import InvalidInput

SCHEMA = [ColumnSchema("amount", "numeric", "float64"), ColumnSchema("plan", "categorical", "")]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (np.bool_(False), "false"),
        (1e200, "1e+200"),
        (-(10**40), str(-(10**40))),
        ("1e999", "'1e999'"),
        ("-Infinity", "'-Infinity'"),
        (np.float64(3.5e38), "3.5e+38"),
    ],
)
def test_a_refusal_names_row_column_what_is_allowed_and_the_value_as_sent(
    value: Any, shown: str
) -> None:
    rows = [{"amount": 1.0, "plan": "pro"}, {"amount": value, "plan": "pro"}]
    with pytest.raises(InvalidInput) as refused:
        check_numeric_values(rows, SCHEMA)
    assert refused.value.message == (
        "Column 'amount' must be a finite number between -3.4e38 and 3.4e38 "
        f"(not true or false), but row 1 holds {shown}."
    )
    assert refused.value.errors == [
        {"loc": ["data", 1, "amount"], "msg": refused.value.errors[0]["msg"]}
    ]
    with pytest.raises(InvalidInput, match="row 1 holds"):
        check_numeric_values(pd.DataFrame(rows), SCHEMA)


@pytest.mark.parametrize("value", [0, -3.4e38, 2**70, None, float("nan"), "12.5", "abc", 5e-324])
def test_plain_numbers_missing_values_and_text_pass_through(value: Any) -> None:
    # "abc" is left to conform, which names it with its own sentence.
    rows = [{"amount": value, "plan": True}]
    check_numeric_values(rows, SCHEMA)
    check_numeric_values(pd.DataFrame(rows), SCHEMA)


def test_a_boolean_column_of_a_file_in_a_numeric_column_is_refused_at_its_first_row() -> None:
    frame = pd.DataFrame({"amount": [True, False]})
    with pytest.raises(InvalidInput, match="row 0 holds true"):
        check_numeric_values(frame, SCHEMA)
