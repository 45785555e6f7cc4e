"""Settings read from the environment (the names are part of the public surface)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Where Vigil keeps its state and how it signs artifacts."""

    home: Path
    database_url: str
    artifact_uri: str
    secret_key: bytes
    admin_key: str | None
    # Hosts a URL data source may fetch from; empty means URL sources are off.
    url_allowlist: tuple[str, ...] = ()
    # Named SQL sources: {"name": {"url": ..., "queries": {"query_name": "SELECT ..."}}}.
    sql_sources: dict[str, Any] = field(default_factory=dict)
    # Prediction-log records older than this many days are deleted; 0 keeps them all.
    prediction_retention_days: float = 30.0
    # Where stream state lives: None for the database, or a redis:// URL.
    state_url: str | None = None
    # Bounded work (issue 15): columns of a dataset, cells (rows x columns) of a
    # training table, seconds a training job may run.
    max_columns: int = 10_000
    max_cells: int = 100_000_000
    max_training_seconds: float = 3600.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Returns the settings from ``environ`` (default ``os.environ``), creating ``home``."""
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("VIGIL_HOME") or "./.vigil").expanduser().resolve()
        home.mkdir(parents=True, exist_ok=True)
        database_url = env.get("VIGIL_DATABASE_URL") or f"sqlite:///{home / 'vigil.db'}"
        artifact_uri = env.get("VIGIL_ARTIFACT_URI") or str(home / "artifacts")
        secret = env.get("VIGIL_SECRET_KEY")
        secret_key = secret.encode() if secret else _load_or_create_secret(home / "secret.key")
        return cls(
            home=home,
            database_url=database_url,
            artifact_uri=artifact_uri,
            secret_key=secret_key,
            admin_key=env.get("VIGIL_ADMIN_KEY") or None,
            url_allowlist=tuple(
                h.strip().lower()
                for h in env.get("VIGIL_URL_ALLOWLIST", "").split(",")
                if h.strip()
            ),
            sql_sources=_sql_sources(env.get("VIGIL_SQL_SOURCES", "")),
            prediction_retention_days=_retention_days(
                env.get("VIGIL_PREDICTION_RETENTION_DAYS", "")
            ),
            state_url=env.get("VIGIL_STATE_URL") or None,
            max_columns=int(_positive(env, "VIGIL_MAX_COLUMNS", 10_000)),
            max_cells=int(_positive(env, "VIGIL_MAX_CELLS", 100_000_000)),
            max_training_seconds=_positive(env, "VIGIL_MAX_TRAINING_SECONDS", 3600.0),
        )


def _load_or_create_secret(path: Path) -> bytes:
    """Returns the secret stored at ``path``, generating it (mode 0600) on first use."""
    if path.exists():
        return path.read_bytes().strip()
    token = secrets.token_hex(32).encode()
    # O_EXCL: two processes starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(token)
    return token


def _positive(env: dict[str, str], name: str, default: float) -> float:
    """Returns the positive number in ``env[name]``, or ``default`` when unset."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a positive number, got {text!r}.") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive number, got {text!r}.")
    return value


def _retention_days(text: str) -> float:
    """Returns VIGIL_PREDICTION_RETENTION_DAYS as a number of days (default 30, 0 = forever)."""
    if not text.strip():
        return 30.0
    try:
        days = float(text)
    except ValueError:
        raise ValueError(
            f"VIGIL_PREDICTION_RETENTION_DAYS must be a number of days, got {text!r}."
        ) from None
    if not days >= 0 or days == float("inf"):
        raise ValueError(
            f"VIGIL_PREDICTION_RETENTION_DAYS must be 0 (keep everything) or more, got {text!r}."
        )
    return days


def _sql_sources(text: str) -> dict[str, Any]:
    """Returns the named SQL sources from JSON text or from a JSON file named by the text."""
    text = text.strip()
    if not text:
        return {}
    raw = Path(text).read_text() if not text.startswith("{") else text
    sources = json.loads(raw)
    if not isinstance(sources, dict):
        raise ValueError("VIGIL_SQL_SOURCES must be a JSON object of named sources.")
    return sources
