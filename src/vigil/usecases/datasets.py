"""Datasets as use cases: upload, inline rows, the data reference of a training job.

A dataset's bytes live in the artifact store under ``<tenant>/datasets/``
and its row in the database records the sha256, so a training run, and every
retraining after it, reads back exactly the rows it was given.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from vigil.config import Settings
from vigil.data.loading import Dataset, detect_format, read_table
from vigil.data.sources import check_named_query, check_url, fetch_url, run_named_query
from vigil.errors import ArtifactIntegrityError, InvalidInput
from vigil.ids import uuid7
from vigil.registry.artifacts import ArtifactStore
from vigil.registry.datasets import DatasetRecord, DatasetStore
from vigil.registry.signing import sha256_hex
from vigil.security import Caller, require_role
from vigil.usecases.audit import Audit

SOURCE_KINDS = frozenset({"dataset_id", "rows", "url", "sql"})
# A URL source larger than this is refused rather than filling memory.
MAX_FETCH_BYTES = 512 * 1024 * 1024


def table_bytes(frame: pd.DataFrame) -> tuple[bytes, str]:
    """Returns a table as Parquet (compact, typed), or JSON Lines when Parquet cannot hold it."""
    import pyarrow as pa

    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue(), "parquet"
    except (ValueError, TypeError, ImportError, pa.ArrowException):
        # Mixed-type object columns: JSON keeps each value as it is.
        text = frame.to_json(orient="records", lines=True, date_format="iso")
        return text.encode(), "jsonl"


class Datasets:
    """Tables kept by Vigil, and the data references training jobs carry."""

    def __init__(
        self,
        settings: Settings,
        datasets: DatasetStore,
        artifacts: ArtifactStore,
        audit: Audit,
        now: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.datasets = datasets
        self.artifacts = artifacts
        self.audit = audit
        self.now = now

    def create_dataset(
        self, caller: Caller, *, name: str, payload: bytes, filename: str
    ) -> dict[str, Any]:
        """Returns the dataset stored from an uploaded file (CSV, Parquet or JSON Lines)."""
        require_role(caller, "trainer")
        fmt = detect_format(filename)
        frame = read_table(payload, fmt, filename, max_columns=self.settings.max_columns)
        record = self._store(caller, name or filename, payload, fmt, frame, f"upload:{filename}")
        return record.to_json()

    def create_dataset_from_rows(
        self, caller: Caller, *, name: str, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Returns the dataset stored from inline rows (kept as JSON Lines)."""
        require_role(caller, "trainer")
        return self._from_rows(caller, name, rows).to_json()

    def get_dataset(self, caller: Caller, dataset_id: str) -> dict[str, Any]:
        """Returns a stored dataset's description."""
        return self.datasets.get(caller.tenant, dataset_id).to_json()

    def load_stored_dataset(self, tenant: str, dataset_id: str) -> Dataset:
        """Returns a stored dataset's table, read back from the artifact store."""
        record = self.datasets.get(tenant, dataset_id)
        payload = self.artifacts.get(record.artifact_key)
        if sha256_hex(payload) != record.fingerprint:
            raise ArtifactIntegrityError(f"Dataset {dataset_id} was altered in the artifact store.")
        frame = read_table(payload, record.format, record.name)
        return Dataset(frame, record.fingerprint, record.format, f"dataset:{record.id}")

    def keep_training_data(self, caller: Caller, dataset: Dataset) -> str:
        """Returns the id of a stored dataset holding the training rows (stored now if needed).

        A retraining repeats the run on the same rows plus recent ones, so the
        rows must outlive the file or request they came from.
        """
        if dataset.source.startswith("dataset:"):
            return dataset.source.removeprefix("dataset:")
        payload, fmt = table_bytes(dataset.frame)
        # The same table trained on again (another algorithm, a retry) is stored once.
        existing = self.datasets.find(caller.tenant, sha256_hex(payload))
        if existing is not None:
            return existing.id
        name = f"training data ({dataset.source})"
        return self._store(caller, name, payload, fmt, dataset.frame, dataset.source).id

    def resolve_source(self, caller: Caller, data: Any) -> dict[str, Any]:
        """Returns a job's data reference, checked now: a bad one fails the request, not a job.

        A dataset must exist, inline rows are stored as a dataset, a URL must
        be allow-listed and public, a SQL source must name a configured
        connection and query.
        """
        if not isinstance(data, dict) or len(set(data) & SOURCE_KINDS) != 1:
            raise InvalidInput(
                "data must name exactly one of dataset_id, rows, url or sql.",
                errors=[{"loc": ["data"], "msg": "exactly one of dataset_id, rows, url, sql"}],
            )
        if "dataset_id" in data:
            self.datasets.get(caller.tenant, str(data["dataset_id"]))
            return {"dataset_id": str(data["dataset_id"])}
        if "rows" in data:
            rows = data["rows"]
            if not isinstance(rows, list):
                raise InvalidInput(
                    "data.rows must be a list of objects.",
                    errors=[{"loc": ["data", "rows"], "msg": "not a list"}],
                )
            return {"dataset_id": self._from_rows(caller, "inline rows", rows).id}
        if "url" in data:
            return {"url": check_url(str(data["url"]), self.settings.url_allowlist)}
        sql = data["sql"]
        if not isinstance(sql, dict):
            raise InvalidInput("data.sql must be an object with connection, query and params.")
        connection, query = str(sql.get("connection", "")), str(sql.get("query", ""))
        params = sql.get("params") or {}
        check_named_query(self.settings.sql_sources, connection, query, params)
        return {"sql": {"connection": connection, "query": query, "params": params}}

    def materialise(self, tenant: str, actor: str, data: dict[str, Any]) -> Dataset:
        """Returns the table a job's data reference points at (fetching URL and SQL sources now)."""
        if "dataset_id" in data:
            return self.load_stored_dataset(tenant, data["dataset_id"])
        caller = Caller(tenant=tenant, actor=actor, role="trainer")
        if "url" in data:
            fetched = fetch_url(data["url"], self.settings.url_allowlist, max_bytes=MAX_FETCH_BYTES)
            frame = read_table(
                fetched.payload, fetched.format, fetched.url, max_columns=self.settings.max_columns
            )
            record = self._store(
                caller, fetched.url, fetched.payload, fetched.format, frame, fetched.url
            )
            return Dataset(frame, record.fingerprint, record.format, fetched.url)
        sql = data["sql"]
        frame = run_named_query(
            self.settings.sql_sources, sql["connection"], sql["query"], sql["params"]
        )
        payload = frame.to_json(orient="records", lines=True, date_format="iso").encode()
        source = f"sql:{sql['connection']}/{sql['query']}"
        record = self._store(caller, source, payload, "jsonl", frame, source)
        return Dataset(frame, record.fingerprint, "jsonl", source)

    def _from_rows(self, caller: Caller, name: str, rows: list[dict[str, Any]]) -> DatasetRecord:
        if not rows:
            raise InvalidInput(
                "rows is empty; send at least one row.", errors=[{"loc": ["rows"], "msg": "empty"}]
            )
        bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)), None)
        if bad is not None:
            raise InvalidInput(
                f"Row {bad} is not an object of column values.",
                errors=[{"loc": ["rows", bad], "msg": "not an object"}],
            )
        frame = pd.DataFrame.from_records(rows)
        payload = frame.to_json(orient="records", lines=True, date_format="iso").encode()
        return self._store(caller, name or "inline rows", payload, "jsonl", frame, "rows")

    def _store(
        self, caller: Caller, name: str, payload: bytes, fmt: str, frame: pd.DataFrame, source: str
    ) -> DatasetRecord:
        """Returns the dataset recorded after its bytes were stored (removed again on failure)."""
        dataset_id = uuid7()
        key = f"{caller.tenant}/datasets/{dataset_id}.{fmt}"
        self.artifacts.put(key, payload)
        record = DatasetRecord(
            id=dataset_id,
            tenant=caller.tenant,
            name=name[:256],
            format=fmt,
            source=source[:2000],
            fingerprint=sha256_hex(payload),
            rows=len(frame),
            columns=[{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
            artifact_key=key,
            size=len(payload),
            created_by=caller.actor,
            created_at=self.now(),
        )
        try:
            self.datasets.add(record)
        except BaseException:
            self.artifacts.delete(key)
            raise
        self.audit.record(
            caller, "dataset.create", f"datasets/{dataset_id}", name=name, rows=len(frame)
        )
        return record
