"""Artifacts are written whole and verified, and refused once altered (local folder and S3)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from vigil.errors import ArtifactIntegrityError, Conflict
from vigil.registry.artifacts import ArtifactInfo, ArtifactStore, LocalArtifactStore
from vigil.registry.signing import (
    StoredArtifact,
    hmac_hex,
    read_verified,
    sha256_hex,
    write_verified,
)

SECRET = b"server-secret-for-tests"
KEY = "default/models/churn/0190a1b2.vigil"
PAYLOAD = b"\x80\x04pickled model bundle" * 500

Tamper = Callable[[ArtifactStore, str], None]


def test_sha256_hex_matches_the_standard_digest() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_hmac_hex_matches_rfc_4231_test_case_2() -> None:
    assert hmac_hex(b"what do ya want for nothing?", b"Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_write_verified_records_what_read_verified_accepts(store: ArtifactStore) -> None:
    stored = write_verified(store, KEY, PAYLOAD, SECRET)

    assert stored == StoredArtifact(
        key=KEY,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        hmac=hmac_hex(PAYLOAD, SECRET),
        size=len(PAYLOAD),
    )
    assert read_verified(store, KEY, stored.sha256, stored.hmac, SECRET) == PAYLOAD


def test_one_flipped_byte_is_refused_as_altered(store: ArtifactStore, tamper: Tamper) -> None:
    stored = write_verified(store, KEY, PAYLOAD, SECRET)
    tamper(store, KEY)

    with pytest.raises(ArtifactIntegrityError, match="altered") as caught:
        read_verified(store, KEY, stored.sha256, stored.hmac, SECRET, label="model churn version 3")
    message = caught.value.message
    assert f"Artifact {KEY} of model churn version 3 was altered" in message
    assert "sha256" in message
    assert "refusing to load" in message


def test_a_wrong_secret_is_refused_as_altered(store: ArtifactStore) -> None:
    stored = write_verified(store, KEY, PAYLOAD, SECRET)

    with pytest.raises(ArtifactIntegrityError, match=r"altered.*HMAC"):
        read_verified(store, KEY, stored.sha256, stored.hmac, b"another-servers-secret")


def test_a_replaced_artifact_with_a_rewritten_sha256_is_refused_by_the_hmac(
    store: ArtifactStore,
) -> None:
    stored = write_verified(store, KEY, PAYLOAD, SECRET)
    # Someone who can write both the store and the database, but lacks the secret.
    forged = b"\x80\x04malicious pickle"
    store.put(KEY, forged)

    with pytest.raises(ArtifactIntegrityError, match=r"altered.*HMAC"):
        read_verified(store, KEY, sha256_hex(forged), stored.hmac, SECRET)


def test_a_missing_artifact_is_an_integrity_error_naming_the_key(store: ArtifactStore) -> None:
    stored = write_verified(store, KEY, PAYLOAD, SECRET)
    store.delete(KEY)

    with pytest.raises(
        ArtifactIntegrityError, match=re.escape(f"{KEY} of model churn version 3 is missing")
    ):
        read_verified(store, KEY, stored.sha256, stored.hmac, SECRET, label="model churn version 3")


class CorruptingStore(ArtifactStore):
    """A store whose reads come back damaged, as a faulty disk or proxy would return them."""

    def __init__(self, inner: ArtifactStore) -> None:
        self.inner = inner

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        data = self.inner.get(key)
        return data[:-1]

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> list[ArtifactInfo]:
        return self.inner.list(prefix)

    def uri_for(self, key: str) -> str:
        return self.inner.uri_for(key)


def test_a_write_that_fails_verification_leaves_nothing(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactIntegrityError, match="did not read back as written"):
        write_verified(CorruptingStore(store), KEY, PAYLOAD, SECRET)

    assert not store.exists(KEY)
    assert store.list() == []


def test_a_write_interrupted_before_the_rename_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_verified(store, KEY, PAYLOAD, SECRET)
    monkeypatch.undo()

    assert store.list() == []
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_write_verified_never_overwrites_an_existing_artifact(store: ArtifactStore) -> None:
    stored = write_verified(store, KEY, PAYLOAD, SECRET)

    with pytest.raises(Conflict, match="already exists"):
        write_verified(store, KEY, b"another model", SECRET)

    assert read_verified(store, KEY, stored.sha256, stored.hmac, SECRET) == PAYLOAD
