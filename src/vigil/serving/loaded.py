"""A loaded version, and how a version is loaded: verified before it is unpickled.

``ModelLoader`` is what the ``ModelCache`` calls to load a version: it reads
the artifact, checks its sha256 against the version row and its HMAC against
the server secret, and only then unpickles it, so a tampered artifact is
refused, never run.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vigil.data.strictness import check_numeric_values
from vigil.registry.artifacts import ArtifactStore
from vigil.registry.signing import read_verified
from vigil.registry.store import RegistryStore
from vigil.serving.fast_model import FastModel
from vigil.training.bundle import BatchPrediction, ModelBundle

# What a prediction reads: a table, or rows as mappings of column name to value.
PredictInput = pd.DataFrame | Sequence[Mapping[str, Any]]


def as_frame(data: PredictInput) -> pd.DataFrame:
    """Returns ``data`` as a DataFrame (a list of row mappings read as ``from_records`` does).

    >>> as_frame([{"a": 1}, {"a": 2}]).shape
    (2, 1)
    """
    if isinstance(data, pd.DataFrame):
        return data
    return pd.DataFrame.from_records(list(data))


@dataclass(frozen=True)
class LoadedModel:
    """A loaded version: its bundle, and the compiled fast path when the model has one."""

    bundle: ModelBundle
    fast: FastModel | None = None

    def predict(self, data: PredictInput, *, explain: bool = False) -> BatchPrediction:
        """Returns the outputs for ``data``: the compiled path when it applies, else the bundle.

        ``data`` is a DataFrame or a list of row mappings (read as
        ``pd.DataFrame.from_records`` reads them). Rows given as mappings reach
        the compiled path without a DataFrame being built: for one row that
        is most of the cost of an answer.
        """
        if getattr(self.bundle, "extractor", None) is None and self.bundle.task != "forecast":
            # Booleans and numbers beyond float32 in numeric columns: a 422, never a 500.
            # (A forecaster refuses rows itself: it is asked for a horizon.)
            check_numeric_values(data, self.bundle.schema)
        if self.fast is not None and not explain:
            if isinstance(data, pd.DataFrame):
                return BatchPrediction(self.fast.predict_rows(data))
            if len(data) == 1:
                return BatchPrediction([self.fast.predict_row(data[0])])
            return BatchPrediction(self.fast.predict_rows(data))
        return self.bundle.predict_with_report(as_frame(data), explain=explain)


class ModelLoader:
    """Loads versions from the artifact store, verified against the registry and the secret."""

    def __init__(self, store: RegistryStore, artifacts: ArtifactStore, secret_key: bytes) -> None:
        self.store = store
        self.artifacts = artifacts
        self.secret_key = secret_key

    def __call__(self, tenant: str, name: str, version: int) -> LoadedModel:
        """Returns the verified bundle with its compiled fast path where one exists."""
        bundle = self.bundle(tenant, name, version)
        return LoadedModel(bundle, FastModel.from_bundle(bundle))

    def bundle(self, tenant: str, name: str, version: int) -> ModelBundle:
        """Returns the version's bundle, verified against its sha256 and HMAC before unpickling."""
        import joblib  # only a process that loads models pays for it

        record = self.store.get_version(tenant, name, version)
        payload = read_verified(
            self.artifacts,
            record.artifact_key,
            record.artifact_sha256,
            record.artifact_hmac,
            self.secret_key,
            label=f"model {name} version {version}",
        )
        bundle: ModelBundle = joblib.load(io.BytesIO(payload))
        return bundle
