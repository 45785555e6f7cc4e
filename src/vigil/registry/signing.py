"""Artifacts written whole and verified, and refused when they were altered.

An artifact is a pickle, and unpickling runs code, so its bytes are checked
before anything loads them: against the sha256 recorded with the version when
it was trained, and against an HMAC-SHA256 under the server secret. The sha256
catches corruption and a swapped file; the HMAC catches someone who can write
both the artifact store and the database but does not hold the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from vigil.errors import ArtifactIntegrityError, Conflict, NotFound
from vigil.registry.artifacts import ArtifactStore

__all__ = ["StoredArtifact", "hmac_hex", "read_verified", "sha256_hex", "write_verified"]


@dataclass(frozen=True)
class StoredArtifact:
    """What a version row records about its artifact: key, sha256, HMAC and size in bytes."""

    key: str
    sha256: str
    hmac: str
    size: int


def sha256_hex(data: bytes) -> str:
    """Returns the sha256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def hmac_hex(data: bytes, secret: bytes) -> str:
    """Returns the HMAC-SHA256 of ``data`` under ``secret`` as 64 lowercase hex digits."""
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def write_verified(store: ArtifactStore, key: str, data: bytes, secret: bytes) -> StoredArtifact:
    """Returns the record of ``data`` stored at ``key``, read back and checked.

    Only after this returns may a version row point at the artifact. If
    anything fails, what was written is deleted before the error propagates, so
    a failed write leaves nothing behind. A key that already holds an artifact
    is refused (Conflict): artifacts are immutable, and cleaning up after a
    failure must never delete another version's artifact.
    """
    if store.exists(key):
        raise Conflict(f"Artifact {key} already exists; artifacts are never overwritten.")
    stored = StoredArtifact(key, sha256_hex(data), hmac_hex(data, secret), len(data))
    try:
        store.put(key, data)
        # Reading back proves the store holds exactly these bytes before anything
        # (the version row) depends on them.
        written = store.get(key)
        if not hmac.compare_digest(sha256_hex(written), stored.sha256):
            raise ArtifactIntegrityError(
                f"Artifact {store.uri_for(key)} did not read back as written "
                f"({len(written)} bytes read, {len(data)} written); it was removed."
            )
    except BaseException as exc:
        try:
            store.delete(key)
        except Exception as cleanup:
            exc.add_note(f"Removing the partly written artifact {key} failed too: {cleanup}")
        raise
    return stored


def read_verified(
    store: ArtifactStore,
    key: str,
    expected_sha256: str,
    expected_hmac: str,
    secret: bytes,
    *,
    label: str | None = None,
) -> bytes:
    """Returns the artifact's bytes once they match the recorded sha256 and the HMAC.

    Raises ArtifactIntegrityError, saying the artifact was altered, if either
    check fails, and if the artifact is missing; ``label`` (e.g. "model churn
    version 3") names what the artifact belongs to in the message.
    """
    subject = f"Artifact {key}" + (f" of {label}" if label else "")
    try:
        data = store.get(key)
    except NotFound as exc:
        # The version row exists, so its artifact vanishing is damage to the
        # registry, not a resource the caller asked for that does not exist.
        raise ArtifactIntegrityError(
            f"{subject} is missing from the artifact store ({store.uri_for(key)}); "
            "it was deleted or moved after training."
        ) from exc
    if not hmac.compare_digest(sha256_hex(data), expected_sha256.lower()):
        raise ArtifactIntegrityError(
            f"{subject} was altered: its sha256 does not match the one recorded at training; "
            "refusing to load it."
        )
    if not hmac.compare_digest(hmac_hex(data, secret), expected_hmac.lower()):
        raise ArtifactIntegrityError(
            f"{subject} was altered: its HMAC does not match the server secret's signature "
            "(or VIGIL_SECRET_KEY changed since it was trained); refusing to load it."
        )
    return data
