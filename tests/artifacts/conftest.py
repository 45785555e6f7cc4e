"""Artifact stores to test on: a local folder, and a moto S3 server on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from vigil.registry.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore

Tamper = Callable[[ArtifactStore, str], None]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Returns the URL of an S3-compatible moto server on 127.0.0.1, up for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Returns the moto endpoint, with the AWS environment pointing at it for this test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Keep the developer's own AWS profile, session and proxy out of the test.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return moto_endpoint


@pytest.fixture
def s3_store(s3_env: str) -> S3ArtifactStore:
    """Returns an S3 store on a fresh bucket, its client built from the environment alone."""
    store = S3ArtifactStore(f"vigil-test-{uuid.uuid4().hex[:16]}", "artifacts/v1")
    store.ensure_bucket()
    return store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """Returns an empty artifact store: a local folder, then a bucket on the moto server."""
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    s3: S3ArtifactStore = request.getfixturevalue("s3_store")
    return s3


def flip_byte(store: ArtifactStore, key: str) -> None:
    """Flips one bit of the stored object behind the store's back, as an attacker would."""
    if isinstance(store, LocalArtifactStore):
        path = store.path_for(key)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        return
    assert isinstance(store, S3ArtifactStore)
    object_key = store.object_key(key)
    body = store.client.get_object(Bucket=store.bucket, Key=object_key)["Body"].read()
    data = bytearray(body)
    data[len(data) // 2] ^= 0x01
    store.client.put_object(Bucket=store.bucket, Key=object_key, Body=bytes(data))


@pytest.fixture
def tamper() -> Tamper:
    """Returns a function that alters one byte of a stored artifact in place."""
    return flip_byte
