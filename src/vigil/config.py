"""Settings read from the environment (the names are part of the public surface)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where Vigil keeps its state and how it signs artifacts."""

    home: Path
    database_url: str
    artifact_uri: str
    secret_key: bytes
    admin_key: str | None

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
