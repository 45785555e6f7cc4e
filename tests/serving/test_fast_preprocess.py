"""The compiled preprocessor gives the fitted ColumnTransformer's features and conform's errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer

from vigil.data.schema import ColumnSchema, conform, infer_schema
from vigil.errors import InvalidInput
from vigil.features.tabular import build_preprocessor
from vigil.serving.fast_preprocess import (
    CompiledPreprocessor,
    NotCompilable,
    compile_preprocessor,
)

# More categories than OneHotEncoder's max_categories (50), so rare ones are grouped.
MANY = [f"host-{i:02d}" for i in range(70)]


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-01T00:00:00Z")
    frame = pd.DataFrame(
        {
            "latency": rng.gamma(2.0, 30.0, rows),
            "retries": rng.integers(0, 5, rows),
            "cached": rng.random(rows) > 0.5,
            "host": rng.choice(MANY, rows, p=np.linspace(1, 30, 70) / np.linspace(1, 30, 70).sum()),
            "method": rng.choice(["GET", "POST", "PUT"], rows),
            "seen": [
                (start + pd.Timedelta(seconds=int(s))).isoformat()
                for s in rng.integers(0, 90 * 86_400, rows)
            ],
        }
    )
    frame.loc[rng.random(rows) < 0.05, "latency"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "host"] = None
    return frame


@pytest.fixture(scope="module", params=[False, True], ids=["trees", "scaled"])
def fitted(request: pytest.FixtureRequest) -> tuple[list[ColumnSchema], ColumnTransformer]:
    train = _frame(500, seed=0)
    schema = infer_schema(train)
    assert {c.kind for c in schema} == {"numeric", "boolean", "categorical", "datetime"}
    preprocessor = build_preprocessor(schema, scale=request.param, dense=True)
    preprocessor.fit(conform(train, schema))
    return schema, preprocessor


@pytest.fixture(scope="module")
def queries() -> pd.DataFrame:
    frame = _frame(120, seed=1).astype(object)  # room for the odd values below
    frame.loc[0, "host"] = "never-seen"
    frame.loc[1, "method"] = "PATCH"  # unseen, and "method" has no infrequent column
    frame.loc[2, "host"] = None
    frame.loc[3, ["latency", "retries", "cached", "seen"]] = [None, None, None, None]
    frame.loc[4, "seen"] = "2024-05-01T12:30:00+02:00"
    frame.loc[5, "seen"] = "2024-05-01"
    frame.loc[6, "seen"] = "2024-05-01 08:15:30.123456789Z"
    frame.loc[7, "seen"] = "05/01/2024 10:00"  # not ISO: read by pandas' own parser
    frame.loc[8, "cached"] = "TRUE"
    frame.loc[9, "latency"] = "12.5"
    return frame


def _expected(preprocessor: ColumnTransformer, schema: list[ColumnSchema], frame: Any) -> Any:
    return preprocessor.transform(conform(pd.DataFrame(frame), schema))


def test_one_row_batches_and_columns_equal_the_fitted_transformer(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    rows = queries.to_dict(orient="records")

    expected = _expected(preprocessor, schema, queries)
    singles = np.asarray([compiled.transform_row(row) for row in rows])
    single_expected = np.vstack([_expected(preprocessor, schema, [row]) for row in rows])

    assert np.array_equal(singles, single_expected)
    assert np.array_equal(compiled.transform_columns(queries), expected)
    assert np.array_equal(compiled.transform_rows(rows), expected)
    assert np.array_equal(
        compiled.transform_columns({c: queries[c].tolist() for c in queries}), expected
    )


def test_typed_columns_take_the_vectorised_path_and_equal_the_transformer(
    fitted: tuple[list[ColumnSchema], ColumnTransformer],
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    frame = _frame(300, seed=2)

    assert np.array_equal(compiled.transform_columns(frame), _expected(preprocessor, schema, frame))


def test_unseen_categories_go_to_the_infrequent_column_or_nowhere(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    names = list(preprocessor.get_feature_names_out())
    base = queries.iloc[10].to_dict()

    host = compiled.transform_row({**base, "host": "never-seen"})
    method = compiled.transform_row({**base, "method": "PATCH"})

    host_columns = [i for i, n in enumerate(names) if n.startswith("cat__host_")]
    method_columns = [i for i, n in enumerate(names) if n.startswith("cat__method_")]
    assert names[host_columns[int(np.argmax(host[host_columns]))]] == "cat__host_infrequent_sklearn"
    assert host[host_columns].sum() == 1.0
    assert method[method_columns].sum() == 0.0


def test_missing_values_take_the_fitted_fill(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    row = dict.fromkeys(queries.columns)

    assert np.array_equal(compiled.transform_row(row), _expected(preprocessor, schema, [row])[0])


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("latency", "fast"),
        ("retries", [1, 2]),
        ("cached", "maybe"),
        ("cached", 2),
        ("seen", "not a time"),
        ("latency", "nan"),
    ],
)
def test_values_of_the_wrong_kind_raise_conforms_error(
    fitted: tuple[list[ColumnSchema], ColumnTransformer],
    queries: pd.DataFrame,
    column: str,
    value: Any,
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    rows = queries.head(6).to_dict(orient="records")
    rows[4][column] = value

    with pytest.raises(InvalidInput) as reference:
        conform(pd.DataFrame(rows), schema)
    with pytest.raises(InvalidInput) as batch:
        compiled.transform_rows(rows)
    with pytest.raises(InvalidInput) as frame:
        compiled.transform_columns(pd.DataFrame(rows))
    with pytest.raises(InvalidInput) as single_reference:
        conform(pd.DataFrame([rows[4]]), schema)
    with pytest.raises(InvalidInput) as single:
        compiled.transform_row(rows[4])

    assert column in reference.value.message and "row 4" in reference.value.message
    assert batch.value.message == reference.value.message
    assert frame.value.message == reference.value.message
    assert single.value.message == single_reference.value.message
    assert single.value.errors == single_reference.value.errors


def test_the_first_bad_column_in_schema_order_is_named(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    row = {**queries.iloc[0].to_dict(), "seen": "never", "cached": "perhaps"}

    with pytest.raises(InvalidInput, match="'cached'"):
        compiled.transform_row(row)


def test_a_missing_column_raises_conforms_error(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    row = queries.iloc[0].to_dict()
    del row["method"]

    with pytest.raises(InvalidInput, match="Missing feature column 'method'"):
        compiled.transform_row(row)
    with pytest.raises(InvalidInput, match="Missing feature column 'method'"):
        compiled.transform_rows([row, row])


def test_a_key_absent_from_some_rows_is_a_missing_value(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    rows = queries.head(3).to_dict(orient="records")
    del rows[1]["latency"], rows[2]["host"]

    assert np.array_equal(compiled.transform_rows(rows), _expected(preprocessor, schema, rows))


def test_numbers_sent_for_a_category_are_read_as_pandas_reads_the_batch(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    rows = queries.head(3).to_dict(orient="records")
    rows[0]["method"], rows[1]["method"], rows[2]["method"] = 1, None, True

    assert np.array_equal(compiled.transform_rows(rows), _expected(preprocessor, schema, rows))
    assert np.array_equal(
        compiled.transform_row(rows[0]), _expected(preprocessor, schema, [rows[0]])[0]
    )


def test_an_infinite_number_is_refused_naming_its_column(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    rows = queries.head(3).to_dict(orient="records")
    rows[2]["retries"] = float("inf")

    # The normal path (schema.conform) and the compiled one refuse it the same way.
    with pytest.raises(InvalidInput, match="'retries' must be a finite number, but row 2"):
        _expected(preprocessor, schema, rows)
    with pytest.raises(InvalidInput, match="'retries' must be a finite number, but row 2"):
        compiled.transform_rows(rows)
    with pytest.raises(InvalidInput, match="'retries' must be a finite number, but row 0"):
        compiled.transform_row(rows[2])


def test_no_rows_give_an_empty_matrix(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    width = _expected(preprocessor, schema, queries.head(1)).shape[1]

    assert compiled.transform_rows([]).shape == (0, width)
    assert compiled.transform_columns(queries.head(0)).shape == (0, width)


def test_text_columns_are_not_compilable() -> None:
    frame = pd.DataFrame(
        {
            "x": np.arange(40.0),
            "message": [f"disk {i} failed on node {i % 7} after retry" for i in range(40)],
        }
    )
    schema = infer_schema(frame)
    preprocessor = build_preprocessor(schema, scale=False, dense=False).fit(conform(frame, schema))

    with pytest.raises(NotCompilable):
        compile_preprocessor(preprocessor, schema)


def test_an_unfitted_transformer_is_not_compilable() -> None:
    schema = [ColumnSchema("x", "numeric", "float64")]

    with pytest.raises(NotCompilable):
        compile_preprocessor(build_preprocessor(schema, scale=False, dense=True), schema)


def test_compiled_preprocessor_reports_its_width(
    fitted: tuple[list[ColumnSchema], ColumnTransformer],
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)

    assert isinstance(compiled, CompiledPreprocessor)
    assert compiled.n_features_out == len(preprocessor.get_feature_names_out())


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-05-01T12:30:00Z",
        "2024-05-01T12:30:00+0200",
        "2024-05-01T12:30:00-05:30",
        "2024-05-01 12:30",
        "2024-05-01T23:59:59.999999999",
        "2024-05-01",
        "2023-12-31T23:00:00+01:00",
        "1999-01-01T00:00:00Z",
    ],
)
def test_timestamps_read_as_pandas_reads_them(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame, stamp: str
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    row = {**queries.iloc[11].to_dict(), "seen": stamp}

    assert np.array_equal(compiled.transform_row(row), _expected(preprocessor, schema, [row])[0])


def test_an_impossible_iso_date_raises_conforms_error(
    fitted: tuple[list[ColumnSchema], ColumnTransformer], queries: pd.DataFrame
) -> None:
    schema, preprocessor = fitted
    compiled = compile_preprocessor(preprocessor, schema)
    row = {**queries.iloc[11].to_dict(), "seen": "2024-02-30T10:00:00Z"}

    with pytest.raises(InvalidInput, match="'seen' must be a timestamp"):
        compiled.transform_row(row)
