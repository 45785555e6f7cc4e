"""The model list read from an embedded registry with the standard library's sqlite3.

``vigil models list`` only reads. Through the registry store it would first
import SQLAlchemy and map the ORM tables, which is most of the command's
start-up (issue 12: a command under half a second). This module answers the
same records from a SQLite registry that needs nothing done to it: the file
is there, its header is sound and it is at the newest migration. In any
other case (PostgreSQL, a new, damaged or older database) ``list_models``
returns None and the caller goes through the service, which checks,
migrates and refuses as usual. The query is ``RegistryStore.list_models``'s;
a test compares the two on the same database.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from vigil.registry.entities import ModelRecord
from vigil.registry.revisions import script_head

__all__ = ["header_problem", "list_models", "sqlite_file"]

_SQLITE_MAGIC = b"SQLite format 3\x00"

# RegistryStore.list_models: the tenant's models by name, each with its latest version.
_LIST_MODELS = """
SELECT m.id, m.tenant, m.name, m.task, m.created_at, m.created_by, m.production_version,
       m.canary_version, m.canary_weight, m.shadow_versions, latest.latest_version
FROM models AS m
LEFT OUTER JOIN (
    SELECT model_id, max(version) AS latest_version FROM model_versions GROUP BY model_id
) AS latest ON latest.model_id = m.id
WHERE m.tenant = ?
ORDER BY m.name
"""


def sqlite_file(database_url: str) -> Path | None:
    """Returns the file of a plain ``sqlite:///PATH`` URL (None for anything else).

    >>> sqlite_file("sqlite:////var/lib/vigil/vigil.db")
    PosixPath('/var/lib/vigil/vigil.db')
    >>> sqlite_file("postgresql+psycopg://vigil@db/vigil") is None
    True
    """
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix) :]
    # Options, escapes and in-memory or URI databases are SQLAlchemy's to read.
    if not path or path == ":memory:" or path.startswith("file:") or any(c in path for c in "?%"):
        return None
    return Path(path).expanduser()


def list_models(database_url: str, tenant: str) -> list[ModelRecord] | None:
    """Returns the tenant's models by name, or None when the service must answer instead."""
    path = sqlite_file(database_url)
    if path is None or not _sound(path):
        return None
    head = script_head()
    if head is None:
        return None
    try:
        # Opened read-only: this path never creates, migrates or writes the database.
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        revisions = [
            row[0] for row in connection.execute("SELECT version_num FROM alembic_version")
        ]
        if revisions != [head]:
            return None
        rows = connection.execute(_LIST_MODELS, (tenant,)).fetchall()
    except sqlite3.Error:
        return None  # the service says what is wrong, in its own words
    finally:
        connection.close()
    return [_record(row) for row in rows]


def header_problem(path: Path, size: int) -> str | None:
    """Returns what is wrong with the header of the SQLite file ``path`` of ``size`` bytes.

    None when it is a SQLite database no shorter than its header says; else
    "not a readable SQLite file" or "truncated (N bytes of M)".
    """
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return "not a readable SQLite file"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is valid when its change counter matches (SQLite >= 3.7).
    if header[24:28] == header[92:96] and pages and size < pages * page_size:
        return f"truncated ({size} bytes of {pages * page_size})"
    return None


def _sound(path: Path) -> bool:
    """Returns whether ``path`` holds a SQLite database no shorter than its header says."""
    try:
        return header_problem(path, path.stat().st_size) is None
    except OSError:
        return False


def _record(row: tuple) -> ModelRecord:
    """Returns the record of one row, with the registry's types (``UTCDateTime``, JSON)."""
    (
        id_,
        tenant,
        name,
        task,
        created_at,
        created_by,
        production,
        canary,
        weight,
        shadows,
        latest,
    ) = row
    return ModelRecord(
        id=id_,
        tenant=tenant,
        name=name,
        task=task,
        # Stored as naive UTC text on SQLite ("2026-01-02 03:04:05.678901").
        created_at=datetime.fromisoformat(created_at).replace(tzinfo=UTC),
        created_by=created_by,
        production_version=production,
        canary_version=canary,
        canary_weight=weight,
        shadow_versions=tuple(sorted(json.loads(shadows) or [])) if shadows else (),
        latest_version=latest,
    )
