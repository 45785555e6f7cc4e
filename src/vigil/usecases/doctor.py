"""``vigil doctor``: is this installation whole? The database, every artifact, the secret.

It runs where ``vigil serve`` would refuse to start, so it builds only what it
checks (an engine, the artifact store) rather than the service, and it never
migrates or writes. Each check gives findings; any failed one makes the
command exit 1, with the sentence saying what is wrong and what to do.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from vigil.config import Settings
from vigil.errors import ArtifactIntegrityError
from vigil.registry.artifacts import ArtifactStore, open_artifact_store
from vigil.registry.db import (
    DatabaseUnusable,
    check_database,
    create_engine_for,
    files_under,
    for_reading,
    script_head,
)
from vigil.registry.signing import read_verified
from vigil.registry.tables import ModelRow, ModelVersionRow

# Secrets shorter than this are guessable signatures, however random.
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Finding:
    """One thing checked: the area, whether it is fine, and what was found."""

    area: str
    ok: bool
    message: str


def examine(settings: Settings, environ: dict[str, str] | None = None) -> list[Finding]:
    """Returns the findings about the database, the artifact store and the secret."""
    env = os.environ if environ is None else environ
    findings = _secret(settings, env)
    engine = create_engine_for(settings.database_url)
    try:
        artifacts = open_artifact_store(settings.artifact_uri)
        database = _database(engine, artifacts)
        findings.extend(database)
        if all(f.ok for f in database):
            findings.extend(_artifacts(engine, artifacts, settings.secret_key))
    finally:
        engine.dispose()
    return findings


def report(findings: list[Finding]) -> dict[str, Any]:
    """Returns the findings as the JSON document ``vigil doctor --json`` prints."""
    return {"ok": all(f.ok for f in findings), "findings": [asdict(f) for f in findings]}


def _secret(settings: Settings, env: Any) -> list[Finding]:
    if env.get("VIGIL_SECRET_KEY"):
        source = "VIGIL_SECRET_KEY"
    else:
        path = settings.home / "secret.key"
        source = str(path)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0
        if mode & 0o077:
            return [
                Finding(
                    "secret",
                    False,
                    f"The secret {path} can be read by other users (mode {mode:o}); "
                    f"run `chmod 600 {path}`.",
                )
            ]
    if len(settings.secret_key) < MIN_SECRET_BYTES:
        return [
            Finding(
                "secret",
                False,
                f"The secret from {source} is {len(settings.secret_key)} bytes; use at least "
                f"{MIN_SECRET_BYTES} random bytes (artifacts signed with it are easy to forge).",
            )
        ]
    return [Finding("secret", True, f"The secret comes from {source}.")]


def _database(engine: Engine, artifacts: ArtifactStore) -> list[Finding]:
    where = engine.url.render_as_string(hide_password=True)
    try:
        check_database(engine, artifacts_present=files_under(artifacts), thorough=True)
    except DatabaseUnusable as exc:
        return [Finding("database", False, exc.message)]
    try:
        with for_reading(engine).connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return [
            Finding("database", True, f"The database {where} is empty; the next start creates it.")
        ]
    revision = found[0][0] if found else None
    head = script_head()
    if head is not None and revision != head:
        return [
            Finding(
                "database",
                True,
                f"The database {where} is readable, at migration {revision}; the next start "
                f"migrates it to {head}.",
            )
        ]
    return [Finding("database", True, f"The database {where} is readable and up to date.")]


def _artifacts(engine: Engine, artifacts: ArtifactStore, secret: bytes) -> list[Finding]:
    query = select(
        ModelRow.tenant,
        ModelRow.name,
        ModelVersionRow.version,
        ModelVersionRow.artifact_key,
        ModelVersionRow.artifact_sha256,
        ModelVersionRow.artifact_hmac,
    ).join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
    with for_reading(engine).connect() as connection:
        versions = connection.execute(query.order_by(ModelRow.tenant, ModelRow.name)).all()
    problems = []
    for tenant, name, version, key, sha256, signature in versions:
        label = f"model {name} version {version} (tenant {tenant})"
        try:
            read_verified(artifacts, key, sha256, signature, secret, label=label)
        except ArtifactIntegrityError as exc:
            problems.append(Finding("artifacts", False, exc.message))
    unsigned = [p for p in problems if "HMAC does not match" in p.message]
    if len(versions) > 1 and len(unsigned) == len(versions):
        # Every artifact intact but none signed by this secret: it is the secret that changed.
        return [
            Finding(
                "secret",
                False,
                f"The secret verifies none of the {len(versions)} artifacts' signatures (their "
                "sha256 match): it changed since they were trained; restore the previous "
                "secret.key or VIGIL_SECRET_KEY.",
            )
        ]
    if problems:
        return problems
    return [
        Finding(
            "artifacts",
            True,
            f"All {len(versions)} versions' artifacts are present and match their sha256 "
            "and signature.",
        )
    ]
