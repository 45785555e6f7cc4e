"""The preprocessing pipeline fitted with every tabular model.

It is part of the artifact, so what is served is exactly what was evaluated:
numbers are imputed with the median (and standardised for algorithms that are
sensitive to scale), booleans and categories with the most frequent value,
categories one-hot encoded (unseen values ignored at prediction time), free
text turned into TF-IDF, and timestamps into cyclic hour / weekday / month
features plus a linear time term.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from vigil.data.schema import ColumnSchema

# Caps keep one high-cardinality column from blowing up the feature matrix.
MAX_CATEGORIES = 50
MAX_TFIDF_FEATURES = 500
_SECONDS_PER_DAY = 86_400.0


class CyclicTimeEncoder(TransformerMixin, BaseEstimator):
    """Encodes timestamp columns as sine/cosine of hour, weekday and month, plus days since fit.

    Cyclic features make 23:00 close to 00:00 and Sunday close to Monday, which
    a raw number cannot. Missing timestamps are replaced by the training median.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> CyclicTimeEncoder:
        """Returns self, having learned the reference time and fill values."""
        frame = self._as_datetimes(X)
        self.columns_ = list(frame.columns)
        self.fill_ = {c: frame[c].dropna().median() for c in self.columns_}
        epoch = [frame[c].dropna().min() for c in self.columns_]
        self.origin_ = {c: e for c, e in zip(self.columns_, epoch, strict=True)}
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Returns seven features per timestamp column."""
        frame = self._as_datetimes(X)
        parts = []
        for column in self.columns_:
            values = frame[column].fillna(self.fill_[column])
            hour = values.dt.hour.to_numpy() + values.dt.minute.to_numpy() / 60.0
            weekday = values.dt.day_of_week.to_numpy().astype(float)
            month = values.dt.month.to_numpy().astype(float) - 1.0
            days = (values - self.origin_[column]).dt.total_seconds().to_numpy() / _SECONDS_PER_DAY
            parts.extend(
                [
                    np.sin(2 * np.pi * hour / 24),
                    np.cos(2 * np.pi * hour / 24),
                    np.sin(2 * np.pi * weekday / 7),
                    np.cos(2 * np.pi * weekday / 7),
                    np.sin(2 * np.pi * month / 12),
                    np.cos(2 * np.pi * month / 12),
                    days,
                ]
            )
        return np.column_stack(parts) if parts else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Returns the names of the generated features."""
        suffixes = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "month_sin", "month_cos")
        names = [f"{c}_{s}" for c in self.columns_ for s in (*suffixes, "days")]
        return np.asarray(names, dtype=object)

    @staticmethod
    def _as_datetimes(X: pd.DataFrame) -> pd.DataFrame:
        frame = pd.DataFrame(X)
        return pd.DataFrame(
            {
                c: pd.to_datetime(frame[c], errors="coerce", utc=True, format="mixed")
                for c in frame.columns
            },
            index=frame.index,
        )


def _fill_text(column: Any) -> Any:
    """Returns a 1-D array of strings, missing values as empty text."""
    series = pd.Series(np.asarray(column).ravel() if not isinstance(column, pd.Series) else column)
    return series.fillna("").astype(str).to_numpy()


def _as_strings(frame: Any) -> Any:
    """Returns the categorical block as strings, missing kept missing."""
    data = pd.DataFrame(frame)
    return (
        data.astype(object).where(data.notna(), np.nan).map(lambda v: v if v is np.nan else str(v))
    )


def build_preprocessor(
    schema: list[ColumnSchema], *, scale: bool, dense: bool
) -> ColumnTransformer:
    """Returns an unfitted ColumnTransformer for the columns in ``schema``.

    ``scale`` adds standardisation of numeric columns; ``dense`` forces a dense
    output for estimators that cannot take sparse matrices.
    """
    by_kind: dict[str, list[str]] = {}
    for column in schema:
        by_kind.setdefault(column.kind, []).append(column.name)

    transformers: list[tuple[str, Any, Any]] = []
    numeric = by_kind.get("numeric", []) + by_kind.get("boolean", [])
    if numeric:
        steps: list[Any] = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if scale:
            steps.append(StandardScaler())
        transformers.append(("num", make_pipeline(*steps), numeric))
    if by_kind.get("categorical"):
        transformers.append(
            (
                "cat",
                Pipeline(
                    [
                        (
                            "strings",
                            FunctionTransformer(_as_strings, feature_names_out="one-to-one"),
                        ),
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                max_categories=MAX_CATEGORIES,
                                sparse_output=not dense,
                            ),
                        ),
                    ]
                ),
                by_kind["categorical"],
            )
        )
    for name in by_kind.get("text", []):
        # One vectoriser per text column: a TfidfVectorizer takes a single 1-D column.
        transformers.append(
            (
                f"text_{name}",
                Pipeline(
                    [
                        ("fill", FunctionTransformer(_fill_text, feature_names_out="one-to-one")),
                        ("tfidf", TfidfVectorizer(max_features=MAX_TFIDF_FEATURES)),
                    ]
                ),
                name,
            )
        )
    if by_kind.get("datetime"):
        transformers.append(("time", CyclicTimeEncoder(), by_kind["datetime"]))
    return ColumnTransformer(
        transformers,
        remainder="drop",
        sparse_threshold=0.0 if dense else 0.3,
        verbose_feature_names_out=True,
    )


def source_column(feature_name: str, schema: list[ColumnSchema]) -> str:
    """Returns the input column a transformed feature came from (``num__age`` → ``age``)."""
    prefix, _, rest = feature_name.partition("__")
    if prefix.startswith("text_"):
        return prefix.removeprefix("text_")
    names = sorted((c.name for c in schema), key=len, reverse=True)
    for name in names:
        if rest == name or rest.startswith(name + "_"):
            return name
    return rest
