"""Where artifact bytes live: a local folder or an S3 bucket, behind one interface.

Keys are relative posix paths such as ``default/models/churn/<id>.vigil``. Every
store writes an object whole or not at all, so a reader never sees half an
artifact; integrity (sha256 and HMAC) is checked one level up, in
:mod:`vigil.registry.signing`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from vigil.errors import InvalidInput, NotFound, VigilError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

__all__ = [
    "TEMP_PREFIX",
    "ArtifactInfo",
    "ArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "open_artifact_store",
]

# Files being written carry this prefix until they are renamed into place; one
# left behind by a killed process is recognisable and never listed as an artifact.
TEMP_PREFIX = ".vigil-tmp-"
DEFAULT_S3_REGION = "us-east-1"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class ArtifactInfo:
    """One stored object: its key, size in bytes and last modification time (UTC)."""

    key: str
    size: int
    modified_at: datetime


def _check_parts(text: str, what: str, parts: list[str]) -> None:
    """Refuses path components that could escape the root or name the same object twice."""
    if text.startswith("/") or "\\" in text or "\x00" in text:
        raise InvalidInput(
            f"Artifact {what} {text!r} must be a relative posix path without backslashes."
        )
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidInput(
                f"Artifact {what} {text!r} must not contain empty, '.' or '..' components."
            )


def check_key(key: str) -> str:
    """Returns ``key`` unchanged if it is a safe relative posix path, else raises InvalidInput."""
    if not key:
        raise InvalidInput("Artifact key must not be empty.")
    parts = key.split("/")
    _check_parts(key, "key", parts)
    if parts[-1].startswith(TEMP_PREFIX):
        raise InvalidInput(f"Artifact key {key!r} must not start with {TEMP_PREFIX!r}.")
    return key


def check_prefix(prefix: str) -> str:
    """Returns ``prefix`` unchanged if it is empty or the start of a safe key."""
    if prefix:
        # A trailing slash is how callers ask for "everything under this folder".
        parts = prefix.split("/")
        _check_parts(prefix, "prefix", parts[:-1] if parts[-1] == "" else parts)
    return prefix


class ArtifactStore(ABC):
    """Bytes under keys; every write is all-or-nothing."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Returns nothing; stores ``data`` at ``key`` atomically, replacing any object there."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Returns the bytes stored at ``key``; raises NotFound if there are none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Returns nothing; removes the object at ``key`` if there is one."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Returns whether an object is stored at ``key``."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[ArtifactInfo]:
        """Returns the objects whose keys start with ``prefix``, sorted by key."""

    @abstractmethod
    def uri_for(self, key: str) -> str:
        """Returns where ``key`` lives, for messages and display (not for access)."""


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under a root folder (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """Returns the file that holds ``key``."""
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        """Returns nothing; writes a temp file beside the target, fsyncs it, then renames it."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same folder as the target so os.replace is a rename within one file system,
        # which POSIX makes atomic: readers see the old object or the new one.
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        _fsync_folder(path.parent)

    def get(self, key: str) -> bytes:
        """Returns the file's bytes; raises NotFound naming the key if it does not exist."""
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"Artifact {key} does not exist in {self.root}.") from None

    def delete(self, key: str) -> None:
        """Returns nothing; removes the file if it is there."""
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Returns whether a file holds ``key``."""
        return self.path_for(key).is_file()

    def list(self, prefix: str = "") -> list[ArtifactInfo]:
        """Returns the files whose keys start with ``prefix``, temp files left out."""
        check_prefix(prefix)
        folder, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        found = []
        for dirpath, _dirnames, filenames in os.walk(start):
            for filename in filenames:
                if filename.startswith(TEMP_PREFIX):
                    continue
                path = Path(dirpath, filename)
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    # Deleted between the walk and the stat: it is no longer there to list.
                    continue
                found.append(
                    ArtifactInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=UTC))
                )
        return sorted(found, key=lambda info: info.key)

    def uri_for(self, key: str) -> str:
        """Returns the path of the file that holds ``key``."""
        return str(self.path_for(key))


def _fsync_folder(folder: Path) -> None:
    """Makes a rename in ``folder`` durable, where the platform allows it."""
    # Without this a power loss after put() returns can undo the rename, leaving a
    # committed version row that points at nothing.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some platforms and file systems refuse fsync on a directory; the data
        # itself is already on disk.
        pass
    finally:
        os.close(fd)


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects in an S3 (or S3-compatible) bucket under a key prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: S3Client | None = None) -> None:
        if not bucket:
            raise InvalidInput("S3 artifact store needs a bucket name.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_prefix(self.prefix)
        self.client: S3Client = client if client is not None else make_s3_client()

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.bucket!r}, {self.prefix!r})"

    def object_key(self, key: str) -> str:
        """Returns the S3 object key that holds ``key`` (the store prefix prepended)."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def ensure_bucket(self) -> None:
        """Returns nothing; creates the bucket if it does not exist yet."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        region = self.client.meta.region_name or DEFAULT_S3_REGION
        try:
            if region == DEFAULT_S3_REGION:
                # us-east-1 rejects an explicit LocationConstraint naming itself.
                self.client.create_bucket(Bucket=self.bucket)
            else:
                self.client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", region)
                    },
                )
        except ClientError as exc:
            # Another process created it between our check and our create.
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def put(self, key: str, data: bytes) -> None:
        """Returns nothing; one PutObject, which S3 makes visible whole or not at all."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)
        except ClientError as exc:
            self._raise_if_no_bucket(exc)
            raise

    def get(self, key: str) -> bytes:
        """Returns the object's bytes; raises NotFound naming the key if it does not exist."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            self._raise_if_no_bucket(exc)
            if _error_code(exc) in _MISSING_KEY_CODES:
                raise NotFound(
                    f"Artifact {key} does not exist in s3://{self.bucket}/{self.prefix}."
                ) from None
            raise
        return response["Body"].read()

    def delete(self, key: str) -> None:
        """Returns nothing; S3 answers a delete of a missing key with success too."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            self._raise_if_no_bucket(exc)
            raise

    def exists(self, key: str) -> bool:
        """Returns whether an object is stored at ``key``."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            self._raise_if_no_bucket(exc)
            if _error_code(exc) in _MISSING_KEY_CODES:
                return False
            raise
        return True

    def list(self, prefix: str = "") -> list[ArtifactInfo]:
        """Returns the objects whose keys start with ``prefix``, without the store prefix."""
        check_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        found = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root + prefix
            ):
                for item in page.get("Contents", []):
                    found.append(
                        ArtifactInfo(
                            item["Key"][len(root) :],
                            item["Size"],
                            item["LastModified"].astimezone(UTC),
                        )
                    )
        except ClientError as exc:
            self._raise_if_no_bucket(exc)
            raise
        return sorted(found, key=lambda info: info.key)

    def uri_for(self, key: str) -> str:
        """Returns the ``s3://bucket/key`` URI of ``key``."""
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def _raise_if_no_bucket(self, exc: ClientError) -> None:
        """Returns nothing if ``exc`` is not about a missing bucket; else raises a clear error."""
        if _error_code(exc) == "NoSuchBucket":
            raise VigilError(
                f"The artifact bucket {self.bucket} does not exist; "
                "create it or point VIGIL_ARTIFACT_URI at another one."
            ) from exc


def _error_code(exc: ClientError) -> str:
    """Returns the S3 error code of ``exc`` ("NoSuchKey", "404", ...), or "" if it has none."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def make_s3_client() -> S3Client:
    """Returns an S3 client from the usual AWS settings, in us-east-1 if none names a region.

    boto3 reads ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` itself (and the
    ``endpoint_url`` of the AWS config file), which is how S3-compatible
    servers such as MinIO or moto are reached.
    """
    # Imported here: boto3 takes a fifth of a second to import, which every command
    # on the embedded default (a folder) would otherwise pay for nothing.
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    region = session.region_name or DEFAULT_S3_REGION
    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}
    if os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        # S3-compatible servers are usually reached by a host name such as
        # localhost or minio, under which bucket subdomains do not resolve.
        options["s3"] = {"addressing_style": "path"}
    return session.client("s3", region_name=region, config=Config(**options))


def open_artifact_store(uri: str) -> ArtifactStore:
    """Returns the store ``uri`` names: ``s3://bucket/prefix``, ``file://path`` or a folder path.

    A folder is created if it does not exist; an S3 bucket is not (see
    :meth:`S3ArtifactStore.ensure_bucket`).
    """
    if not uri:
        raise InvalidInput("The artifact URI is empty; give a folder or s3://bucket/prefix.")
    match = _SCHEME.match(uri)
    scheme = match.group(1).lower() if match else ""
    if scheme == "s3":
        parts = urlsplit(uri)
        if not parts.netloc:
            raise InvalidInput(f"Artifact URI {uri!r} names no bucket; use s3://bucket/prefix.")
        return S3ArtifactStore(parts.netloc, unquote(parts.path))
    if scheme == "file":
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(
                f"Artifact URI {uri!r} names a remote host; file:// URIs must be local."
            )
        root = Path(unquote(parts.path))
    elif scheme:
        raise InvalidInput(
            f"Artifact URI {uri!r} has an unsupported scheme {scheme}://; "
            "use a folder path, file:// or s3://."
        )
    else:
        root = Path(uri)
    store = LocalArtifactStore(root)
    store.root.mkdir(parents=True, exist_ok=True)
    return store
