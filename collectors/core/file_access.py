"""Read files wherever a billing export lands: a local path, Amazon S3, Google Cloud Storage or Azure Blob Storage.

Locations:
- a local path (absolute, or relative to the process's working directory: the CLI and Airflow workers run from the
  project root, so ``../shared/data/x.csv`` there means a folder beside the project);
- ``s3://bucket/key``, ``gs://bucket/key``;
- ``az://container/path`` or ``abfs[s]://container@account.dfs.core.windows.net/path`` (Azure Blob Storage, the
  account comes from the Airflow connection; when the URL names one it must be the connection's).

A location may be a glob pattern (``*``, ``?``, ``[...]``; for remote stores ``*`` also matches ``/``) or, for remote
stores, a folder ending in ``/`` (every .csv, .csv.gz and .parquet object under it).

Clients come from ``clients`` ("s3", "gcs", "blob") when injected, else from the Airflow provider hook of the
source's connection, imported only then: ``S3Hook(aws_conn_id)`` (boto3 S3 client), ``GCSHook(gcp_conn_id)``
(google-cloud-storage ``Client``), ``WasbHook(wasb_conn_id)`` (azure-storage-blob ``BlobServiceClient``).
Sequential reads stream the object body in chunks (S3 ``GetObject`` body, Azure ``download_blob().chunks()``, GCS
ranged downloads); Parquet needs random access, so it gets a seekable file that issues ranged GETs (S3
``Range: bytes=a-b``, Azure ``download_blob(offset, length)``, GCS ``download_as_bytes(start, end)``).
Request retries (throttling, 5xx) are the SDKs' own (botocore's retry handler, google-api-core, azure-core
policies); what still fails becomes a :class:`CollectorError` naming the source, the location, the HTTP status and
the vendor's error code and message.
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from collectors.core.base import CollectorError

CHUNK_SIZE = 8 * 1024 * 1024
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet")
_GLOB_CHARS = "*?["
_AZURE_SCHEMES = ("az", "abfs", "abfss")


@dataclass(frozen=True)
class Location:
    """A parsed location: ``scheme`` is file, s3, gs or az; ``container`` the bucket/container ('' for local)."""

    text: str
    scheme: str
    container: str
    key: str
    account: str | None = None

    def child(self, key: str) -> Location:
        """The location of another object in the same container (``key`` as listed by the store)."""
        if self.scheme == "file":
            return Location(key, "file", "", key)
        prefix = self.text.split("://", 1)[0]
        netloc = urlsplit(self.text).netloc
        return Location(f"{prefix}://{netloc}/{key}", self.scheme, self.container, key, self.account)


def parse_location(text: str) -> Location:
    if "://" not in text:
        return Location(text, "file", "", text)
    parts = urlsplit(text)
    scheme, key = parts.scheme.lower(), parts.path.lstrip("/")
    if scheme in ("s3", "gs"):
        if not parts.netloc:
            raise ValueError(f"{text!r}: expected {scheme}://bucket/key")
        return Location(text, scheme, parts.netloc, key)
    if scheme in _AZURE_SCHEMES:
        if "@" in parts.netloc:  # abfss://container@account.dfs.core.windows.net/path
            container, host = parts.netloc.split("@", 1)
            return Location(text, "az", container, key, host.split(".", 1)[0])
        if not parts.netloc:
            raise ValueError(f"{text!r}: expected az://container/path")
        return Location(text, "az", parts.netloc, key)
    raise ValueError(f"{text!r}: unsupported scheme {scheme!r}; expected a local path, s3://, gs://, az://, abfs:// "
                     f"or abfss://")


class ObjectMissing(LookupError):
    """The object does not exist (HTTP 404 / no such file)."""


def vendor_error(exc: BaseException) -> str:
    """'HTTP <status> <code>: <message>' from a botocore, google-api-core or azure-core exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:  # botocore ClientError
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"HTTP {status} {error.get('Code')}: {error.get('Message')}"
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)  # azure-core / google-api-core
    details = getattr(exc, "errors", None) or [{}]  # google-api-core: the JSON error's errors[].reason
    code = getattr(exc, "error_code", None) or (details[0].get("reason") if isinstance(details[0], dict) else None)
    message = getattr(exc, "message", None) or str(exc)
    return f"HTTP {status} {code}: {message}" if status else f"{type(exc).__name__}: {message}"


def _is_missing(exc: BaseException) -> bool:
    """The object (not its bucket or container: a wrong bucket is a configuration error) does not exist."""
    text = vendor_error(exc)
    gcs_object_missing = text.startswith("HTTP 404") and "No such object" in text
    return " NoSuchKey:" in text or " BlobNotFound:" in text or gcs_object_missing


# -- streams --------------------------------------------------------------------------------------------------------

class ChunkStream(io.RawIOBase):
    """A read-once binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes], on_error: Callable[[BaseException], str]) -> None:
        self._chunks = chunks
        self._pending = b""
        self._on_error = on_error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
            except Exception as exc:  # the SDK's own error: becomes an OSError the readers report with the file
                raise OSError(self._on_error(exc)) from exc
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class RangeFile(io.RawIOBase):
    """A seekable read-only file over ranged reads (``fetch(start, length) -> bytes``) of an object of ``size``."""

    def __init__(self, size: int, fetch: Callable[[int, int], bytes], on_error: Callable[[BaseException], str]
                 ) -> None:
        self._size = size
        self._fetch = fetch
        self._position = 0
        self._on_error = on_error

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        length = min(len(buffer), self._size - self._position)
        if length <= 0:
            return 0
        try:
            data = self._fetch(self._position, length)
        except Exception as exc:
            raise OSError(self._on_error(exc)) from exc
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


# -- stores ---------------------------------------------------------------------------------------------------------

class _S3Store:
    """Amazon S3 through a boto3 client: ListObjectsV2 (paginated), HeadObject, GetObject (whole body or Range)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self, bucket: str, prefix: str) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def size(self, bucket: str, key: str) -> int:
        return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        body = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")["Body"]
        return body.read()

    def chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()


class _GcsStore:
    """Google Cloud Storage through a google-cloud-storage Client: list_blobs, blob metadata, ranged downloads."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self, bucket: str, prefix: str) -> Iterator[str]:
        for blob in self.client.list_blobs(bucket, prefix=prefix):
            yield blob.name

    def size(self, bucket: str, key: str) -> int:
        blob = self.client.bucket(bucket).blob(key)
        blob.reload()  # objects.get: raises NotFound (404) for a missing object
        return int(blob.size)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        return self.client.bucket(bucket).blob(key).download_as_bytes(start=start, end=start + length - 1)

    def chunks(self, bucket: str, key: str) -> Iterator[bytes]:
        size = self.size(bucket, key)
        for start in range(0, size, CHUNK_SIZE):
            yield self.read_range(bucket, key, start, min(CHUNK_SIZE, size - start))


class _AzureStore:
    """Azure Blob Storage through a BlobServiceClient: list_blobs, get_blob_properties, download_blob (ranged)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def list(self, container: str, prefix: str) -> Iterator[str]:
        for blob in self.client.get_container_client(container).list_blobs(name_starts_with=prefix or None):
            yield blob.name

    def size(self, container: str, key: str) -> int:
        return int(self.client.get_blob_client(container, key).get_blob_properties().size)

    def read_range(self, container: str, key: str, start: int, length: int) -> bytes:
        return self.client.get_blob_client(container, key).download_blob(offset=start, length=length).readall()

    def chunks(self, container: str, key: str) -> Iterator[bytes]:
        yield from self.client.get_blob_client(container, key).download_blob().chunks()


class FileAccess:
    """Lists and opens locations for one source. ``clients`` may hold "s3", "gcs", "blob" (injected SDK clients)."""

    def __init__(self, source_id: str, connection_id: str | None = None, clients: Mapping[str, Any] | None = None,
                 region_name: str | None = None) -> None:
        self.source_id = source_id
        self.connection_id = connection_id
        self.clients = dict(clients or {})
        self.region_name = region_name
        self._stores: dict[str, Any] = {}

    # -- clients ---------------------------------------------------------------------------------------------------
    def _store(self, scheme: str) -> Any:
        if scheme not in self._stores:
            try:
                self._stores[scheme] = {"s3": self._s3, "gs": self._gcs, "az": self._azure}[scheme]()
            except Exception as exc:  # a missing Airflow connection, a hook that cannot build its client
                raise CollectorError(f"source {self.source_id}: cannot build the {scheme} client from connection "
                                     f"{self.connection_id!r}: {vendor_error(exc)}") from exc
        return self._stores[scheme]

    def _s3(self) -> _S3Store:
        if "s3" in self.clients:
            return _S3Store(self.clients["s3"])
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return _S3Store(S3Hook(aws_conn_id=self.connection_id or "aws_default", region_name=self.region_name)
                        .get_conn())

    def _gcs(self) -> _GcsStore:
        if "gcs" in self.clients:
            return _GcsStore(self.clients["gcs"])
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        return _GcsStore(GCSHook(gcp_conn_id=self.connection_id or "google_cloud_default").get_conn())

    def _azure(self) -> _AzureStore:
        if "blob" in self.clients:
            return _AzureStore(self.clients["blob"])
        from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

        return _AzureStore(WasbHook(wasb_conn_id=self.connection_id or "wasb_default").get_conn())

    def _remote(self, location: Location) -> Any:
        store = self._store(location.scheme)
        if location.account and location.scheme == "az":
            account = getattr(store.client, "account_name", None)
            if account and account != location.account:
                raise CollectorError(f"source {self.source_id}: {location.text} names storage account "
                                     f"{location.account!r} but connection {self.connection_id!r} is for {account!r}")
        return store

    def _error(self, action: str, location: Location, exc: BaseException) -> CollectorError:
        return CollectorError(f"source {self.source_id}: {action} {location.text} failed: {vendor_error(exc)}")

    # -- listing ---------------------------------------------------------------------------------------------------
    def expand(self, pattern: str, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[str]:
        """The locations a path, glob pattern or folder (remote, ending in /) stands for, sorted. A plain path or
        object key is returned as is (opening it reports it if it does not exist)."""
        location = parse_location(pattern)
        wildcard = next((i for i, ch in enumerate(location.key) if ch in _GLOB_CHARS), None)
        if location.scheme == "file":
            if wildcard is None:
                return [pattern]
            return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        folder = wildcard is None and (location.key == "" or location.key.endswith("/"))
        if wildcard is None and not folder:
            return [pattern]
        prefix = location.key if folder else location.key[:wildcard]
        store = self._remote(location)
        try:
            keys = list(store.list(location.container, prefix))
        except Exception as exc:
            raise self._error("listing", location, exc) from exc
        if folder:
            matched = [k for k in keys if k.lower().endswith(suffixes)]
        else:
            matched = [k for k in keys if fnmatchcase(k, location.key) and not k.endswith("/")]
        return [location.child(k).text for k in sorted(matched)]

    # -- reading ---------------------------------------------------------------------------------------------------
    @contextmanager
    def open(self, text: str, seekable: bool = False) -> Iterator[BinaryIO]:
        """A buffered binary stream of the object; ``seekable`` for random access (Parquet)."""
        location = parse_location(text)
        if location.scheme == "file":
            try:
                handle = open(location.key, "rb")
            except OSError as exc:
                raise CollectorError(f"source {self.source_id}: cannot open {text}: {exc.strerror}") from exc
            with handle:
                yield handle
            return
        store = self._remote(location)

        def describe(exc: BaseException) -> str:
            return f"reading {text}: {vendor_error(exc)}"

        try:
            if seekable:
                size = store.size(location.container, location.key)
                raw: io.RawIOBase = RangeFile(
                    size, lambda start, length: store.read_range(location.container, location.key, start, length),
                    describe)
            else:
                chunks = store.chunks(location.container, location.key)
                first = next(chunks, b"")  # the request happens here: a missing object fails now, not mid-parse
                raw = ChunkStream(_prepend(first, chunks), describe)
        except Exception as exc:
            raise self._error("opening", location, exc) from exc
        with io.BufferedReader(raw, buffer_size=CHUNK_SIZE) as stream:
            yield stream  # type: ignore[misc]

    def read_bytes(self, text: str) -> bytes:
        """A small object whole (a manifest); raises :class:`ObjectMissing` when it does not exist."""
        location = parse_location(text)
        if location.scheme == "file":
            try:
                with open(location.key, "rb") as handle:
                    return handle.read()
            except FileNotFoundError:
                raise ObjectMissing(text) from None
        store = self._remote(location)
        try:
            return b"".join(store.chunks(location.container, location.key))
        except Exception as exc:
            if _is_missing(exc):
                raise ObjectMissing(text) from exc
            raise self._error("reading", location, exc) from exc


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest
