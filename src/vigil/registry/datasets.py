"""Datasets Vigil keeps: metadata in the database, bytes in the artifact store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vigil.errors import NotFound
from vigil.registry.sessions import SqlStore
from vigil.registry.tables import DatasetRow


@dataclass(frozen=True)
class DatasetRecord:
    """A stored dataset."""

    id: str
    tenant: str
    name: str
    format: str
    source: str
    fingerprint: str
    rows: int
    columns: list[dict[str, Any]]
    artifact_key: str
    size: int
    created_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Returns the dataset as the API shows it (without storage details)."""
        return {
            "id": self.id,
            "name": self.name,
            "format": self.format,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "rows": self.rows,
            "columns": self.columns,
            "size": self.size,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class DatasetStore(SqlStore):
    """Records and finds datasets per tenant."""

    def add(self, record: DatasetRecord) -> DatasetRecord:
        """Returns ``record`` once stored."""
        with self.writing() as session:
            session.add(DatasetRow(**record.__dict__))
        return record

    def find(self, tenant: str, fingerprint: str) -> DatasetRecord | None:
        """Returns the oldest dataset of ``tenant`` with these exact bytes, or None."""
        with self.reading() as session:
            row = session.scalars(
                select(DatasetRow)
                .where(DatasetRow.tenant == tenant, DatasetRow.fingerprint == fingerprint)
                .order_by(DatasetRow.created_at)
                .limit(1)
            ).one_or_none()
            return None if row is None else _record(row)

    def get(self, tenant: str, dataset_id: str) -> DatasetRecord:
        """Returns the dataset; NotFound if it does not exist in ``tenant``."""
        with self.reading() as session:
            row = session.get(DatasetRow, dataset_id)
            if row is None or row.tenant != tenant:
                raise NotFound(f"Dataset {dataset_id} does not exist.")
            return _record(row)


def _record(row: DatasetRow) -> DatasetRecord:
    return DatasetRecord(
        row.id,
        row.tenant,
        row.name,
        row.format,
        row.source,
        row.fingerprint,
        row.rows,
        row.columns,
        row.artifact_key,
        row.size,
        row.created_by,
        row.created_at,
    )
