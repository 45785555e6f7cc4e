"""The artifact store contract, run on a local folder and on S3 (moto on loopback)."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.errors import InvalidInput, NotFound, VigilError
from vigil.registry.artifacts import (
    TEMP_PREFIX,
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    open_artifact_store,
)

KEY = "default/models/churn/0190a1b2.vigil"
UNSAFE_KEYS = [
    "../outside.vigil",
    "default/../../outside.vigil",
    "default/models/..",
    "/etc/passwd",
    "",
    "default//churn.vigil",
    "default/./churn.vigil",
    "default\\..\\outside.vigil",
    f"default/{TEMP_PREFIX}abc",
]


def test_put_then_get_returns_the_same_bytes(store: ArtifactStore) -> None:
    data = bytes(range(256)) * 40
    store.put(KEY, data)
    assert store.get(KEY) == data
    assert store.exists(KEY)


def test_empty_artifact_round_trips(store: ArtifactStore) -> None:
    store.put(KEY, b"")
    assert store.get(KEY) == b""
    assert [info.size for info in store.list()] == [0]


def test_put_over_an_existing_key_replaces_its_bytes(store: ArtifactStore) -> None:
    store.put(KEY, b"first version, longer than the second")
    store.put(KEY, b"second")
    assert store.get(KEY) == b"second"
    assert [(info.key, info.size) for info in store.list()] == [(KEY, 6)]


def test_get_of_a_missing_key_raises_not_found_naming_it(store: ArtifactStore) -> None:
    with pytest.raises(NotFound, match=re.escape(KEY)):
        store.get(KEY)
    assert not store.exists(KEY)


def test_delete_removes_the_object_and_is_idempotent(store: ArtifactStore) -> None:
    store.put(KEY, b"bytes")
    store.delete(KEY)
    assert not store.exists(KEY)
    store.delete(KEY)
    store.delete("default/models/never-written.vigil")
    assert store.list() == []


def test_list_returns_keys_under_the_prefix_with_sizes_and_utc_times(
    store: ArtifactStore,
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    store.put("default/models/churn/a.vigil", b"a" * 10)
    store.put("default/models/churn/b.vigil", b"b" * 20)
    store.put("default/models/churned/c.vigil", b"c" * 30)
    store.put("acme/models/churn/d.vigil", b"d" * 40)

    churn = store.list("default/models/churn/")
    assert [(i.key, i.size) for i in churn] == [
        ("default/models/churn/a.vigil", 10),
        ("default/models/churn/b.vigil", 20),
    ]
    for info in churn:
        assert info.modified_at.utcoffset() == timedelta(0)
        assert before <= info.modified_at <= datetime.now(UTC) + timedelta(minutes=5)

    # A prefix is a string prefix of the key, as in S3, not only a folder.
    assert [i.key for i in store.list("default/models/chu")] == [
        "default/models/churn/a.vigil",
        "default/models/churn/b.vigil",
        "default/models/churned/c.vigil",
    ]
    assert [i.key for i in store.list()] == [
        "acme/models/churn/d.vigil",
        "default/models/churn/a.vigil",
        "default/models/churn/b.vigil",
        "default/models/churned/c.vigil",
    ]
    assert store.list("nobody/") == []


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_keys_that_could_escape_the_root_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        store.put(key, b"x")
    with pytest.raises(InvalidInput):
        store.get(key)
    with pytest.raises(InvalidInput):
        store.exists(key)
    with pytest.raises(InvalidInput):
        store.delete(key)
    with pytest.raises(InvalidInput):
        store.uri_for(key)
    assert store.list() == []


@pytest.mark.parametrize("prefix", ["../", "/etc/", "default/../../", "a\\b"])
def test_list_refuses_prefixes_that_could_escape_the_root(
    store: ArtifactStore, prefix: str
) -> None:
    with pytest.raises(InvalidInput):
        store.list(prefix)


def test_local_keys_never_reach_outside_the_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    with pytest.raises(InvalidInput):
        store.put("../escaped.vigil", b"x")
    assert not (tmp_path / "escaped.vigil").exists()
    assert store.path_for(KEY).is_relative_to(store.root)


def test_local_crash_before_rename_leaves_no_object_and_no_listed_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "root")

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.put(KEY, b"payload" * 1000)
    monkeypatch.undo()

    assert not store.exists(KEY)
    assert store.list() == []
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_local_crash_while_overwriting_keeps_the_previous_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    store.put(KEY, b"old complete artifact")

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.put(KEY, b"new artifact that never lands")
    monkeypatch.undo()

    assert store.get(KEY) == b"old complete artifact"


def test_local_temp_file_left_by_a_killed_writer_is_not_listed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    store.put(KEY, b"complete")
    leftover = store.path_for(KEY).parent / f"{TEMP_PREFIX}k3j2h1"
    leftover.write_bytes(b"half an artif")

    assert [info.key for info in store.list()] == [KEY]
    assert [info.key for info in store.list("default/models/churn/")] == [KEY]


def test_local_uri_for_is_the_file_path(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root")
    assert store.uri_for(KEY) == str(tmp_path.resolve() / "root" / KEY)


@pytest.mark.s3
def test_s3_objects_live_under_the_store_prefix(s3_store: S3ArtifactStore) -> None:
    s3_store.put(KEY, b"bytes")
    listed = s3_store.client.list_objects_v2(Bucket=s3_store.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [f"artifacts/v1/{KEY}"]
    assert s3_store.uri_for(KEY) == f"s3://{s3_store.bucket}/artifacts/v1/{KEY}"


@pytest.mark.s3
def test_s3_stores_with_other_prefixes_do_not_see_each_other(s3_store: S3ArtifactStore) -> None:
    other = S3ArtifactStore(s3_store.bucket, "artifacts/v10", client=s3_store.client)
    s3_store.put(KEY, b"mine")
    other.put(KEY, b"theirs")
    assert s3_store.get(KEY) == b"mine"
    assert [i.key for i in s3_store.list()] == [KEY]
    other.delete(KEY)
    assert s3_store.exists(KEY)


@pytest.mark.s3
def test_s3_client_is_built_from_aws_endpoint_url(s3_env: str) -> None:
    store = S3ArtifactStore("any-bucket", "p")
    assert store.client.meta.endpoint_url == s3_env
    assert store.client.meta.region_name == "us-east-1"


@pytest.mark.s3
def test_ensure_bucket_is_idempotent(s3_store: S3ArtifactStore) -> None:
    s3_store.ensure_bucket()
    s3_store.put(KEY, b"still here")
    s3_store.ensure_bucket()
    assert s3_store.get(KEY) == b"still here"


@pytest.mark.s3
def test_ensure_bucket_creates_the_bucket_in_the_configured_region(
    s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    store = S3ArtifactStore(f"vigil-test-{uuid.uuid4().hex[:16]}", "")
    store.ensure_bucket()
    location = store.client.get_bucket_location(Bucket=store.bucket)
    assert location["LocationConstraint"] == "eu-west-3"
    store.put(KEY, b"bytes")
    assert store.get(KEY) == b"bytes"


@pytest.mark.s3
def test_s3_missing_bucket_is_reported_as_such_not_as_a_missing_key(s3_env: str) -> None:
    store = S3ArtifactStore(f"vigil-test-missing-{uuid.uuid4().hex[:12]}", "p")
    with pytest.raises(VigilError, match=r"bucket .* does not exist") as caught:
        store.get(KEY)
    assert not isinstance(caught.value, NotFound)


def test_s3_region_defaults_to_us_east_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    store = S3ArtifactStore("bucket", "")
    assert store.client.meta.region_name == "us-east-1"


def test_s3_region_from_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert S3ArtifactStore("bucket", "").client.meta.region_name == "eu-west-3"


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://models/vigil/artifacts", "models", "vigil/artifacts"),
        ("s3://models/vigil/", "models", "vigil"),
        ("s3://models", "models", ""),
    ],
)
def test_open_artifact_store_reads_s3_uris(uri: str, bucket: str, prefix: str) -> None:
    store = open_artifact_store(uri)
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == (bucket, prefix)


def test_open_artifact_store_creates_a_folder_from_a_path(tmp_path: Path) -> None:
    root = tmp_path / "home" / "artifacts"
    store = open_artifact_store(str(root))
    assert isinstance(store, LocalArtifactStore)
    assert store.root == root.resolve()
    assert root.is_dir()


def test_open_artifact_store_accepts_file_uris(tmp_path: Path) -> None:
    root = tmp_path / "with space" / "artifacts"
    store = open_artifact_store(root.as_uri())
    assert isinstance(store, LocalArtifactStore)
    assert store.root == root.resolve()
    assert root.is_dir()


def test_open_artifact_store_resolves_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_artifact_store(".vigil/artifacts")
    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path.resolve() / ".vigil" / "artifacts"


@pytest.mark.parametrize("uri", ["", "s3://", "s3:///prefix", "gs://bucket/x", "file://host/x"])
def test_open_artifact_store_refuses_uris_it_cannot_serve(uri: str) -> None:
    with pytest.raises(InvalidInput):
        open_artifact_store(uri)
