"""Where run records live: a local folder or an S3 prefix, behind one small interface.

S3 goes through boto3, which honours ``AWS_ENDPOINT_URL`` (a moto server, MinIO, ...) by itself.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from ..errors import StoreError


class Store(Protocol):
    uri: str

    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def replace_if(self, key: str, data: bytes, expected: bytes | None) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def uri_for(self, key: str) -> str: ...


_UMASK = os.umask(0)
os.umask(_UMASK)


def _check_key(key: str) -> str:
    if key.startswith("/") or ".." in key.split("/"):
        raise StoreError(f"invalid store key {key!r}")
    return key


def write_atomically(path: Path, data: bytes, within: str | None = None) -> None:
    """``data`` into ``path`` (its folder exists) through a temporary file beside it and a rename, so a reader sees the
    old file or the new one, never part of one (a full disk fails the write, not the file). StoreError in one line;
    ``within`` names what holds the file when the temporary file cannot even be made there."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:  # a read-only folder, a file where a folder should be, a full disk
        raise _os_error(exc, f"cannot write to {within or path.parent}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; records are meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _os_error(exc, f"cannot write {path}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalStore:
    """A folder on disk; writes are atomic (temp file + rename) so readers never see half a file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"{self.uri_for(key)} does not exist") from None
        except OSError as exc:
            raise _os_error(exc, f"cannot read {self.uri_for(key)}") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only folder, a file where a folder should be, a full disk
            raise _os_error(exc, f"cannot write to the store {self.uri}") from None
        write_atomically(path, data, f"the store {self.uri}")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def replace_if(self, key: str, data: bytes, expected: bytes | None) -> bool:
        """Write ``data`` only if ``key`` holds exactly ``expected`` (None: does not exist); False if it does not.

        A compare-and-swap among processes sharing the folder: an exclusively created lock file next to the key
        makes read-compare-write one step (held for milliseconds; one older than a minute is a crashed holder's).
        """
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, f"cannot write to the store {self.uri}") from None
        lock = path.parent / f".{path.name}.lock"
        deadline = time.monotonic() + 30
        while True:
            try:
                os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                break
            except FileExistsError:
                if time.time() - _mtime(lock) > 60:
                    lock.unlink(missing_ok=True)
                elif time.monotonic() > deadline:
                    raise StoreError(f"{self.uri_for(key)} stayed locked by another writer for 30 s") from None
                time.sleep(0.01)
            except OSError as exc:
                raise _os_error(exc, f"cannot write to the store {self.uri}") from None
        try:
            current = path.read_bytes() if path.is_file() else None
            if current != expected:
                return False
            self.write_bytes(key, data)
            return True
        finally:
            lock.unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def uri_for(self, key: str) -> str:
        # papermill and nbconvert want a plain path for local files.
        return str(self._path(key))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _os_error(exc: OSError, doing: str) -> StoreError:
    """One line for the user: what failed and the system's reason, without a traceback."""
    reason = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename else ""
    return StoreError(f"{doing}: {reason}{where}")


# Every S3 client the project makes (the stores, papermill's S3 handler, the DAG's S3Hook) has these: an endpoint
# that accepts connections and never answers (a hung S3 or proxy) costs one call at most
# S3_ATTEMPTS x (S3_CONNECT_TIMEOUT_S or S3_READ_TIMEOUT_S) plus a few seconds of back-off, about 50 s, instead of
# hanging the run for good (boto3's default read timeout is 60 s per attempt, its legacy retries up to 5 attempts).
# The read timeout bounds each socket read or write, not a whole transfer: a large model still uploads.
S3_CONNECT_TIMEOUT_S = 5
S3_READ_TIMEOUT_S = 15
S3_ATTEMPTS = 3  # botocore's "standard" retry mode: the first call and two retries, with jittered back-off


def s3_config():
    """The botocore ``Config`` of every S3 client the project creates: timeouts and bounded retries."""
    from botocore.config import Config

    return Config(
        connect_timeout=S3_CONNECT_TIMEOUT_S,
        read_timeout=S3_READ_TIMEOUT_S,
        retries={"total_max_attempts": S3_ATTEMPTS, "mode": "standard"},
    )


def _s3_client():
    import boto3

    return boto3.client("s3", config=s3_config())


def _s3_error(exc: Exception, where: str) -> StoreError:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StoreError(
            f"no AWS credentials for {where}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(or run where a task role provides them)"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "?")
        if code in {"NoSuchKey", "404"}:
            return StoreError(f"{where} does not exist")
        if code == "NoSuchBucket":
            return StoreError(f"bucket of {where} does not exist")
        return StoreError(f"S3 error for {where}: {code} {error.get('Message', '')}".strip())
    return StoreError(f"S3 error for {where}: {exc}")


class S3Store:
    """An ``s3://bucket/prefix``; keys are relative to the prefix."""

    def __init__(self, uri: str, client=None) -> None:
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise StoreError(f"S3 store URI needs a bucket: {uri!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self._client = client
        # key -> (sha256 of the bytes this store last wrote there, their ETag): a compare-and-swap against bytes this
        # process wrote itself (a run's heartbeat) is then one conditional PUT instead of a GET and a PUT.
        self._written: dict[str, tuple[str, str]] = {}

    @property
    def client(self):
        if self._client is None:
            self._client = _s3_client()
        return self._client

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            raise _s3_error(exc, self.uri_for(key)) from None

    def _put(self, key: str, data: bytes, **conditions: str) -> None:
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        self._written.pop(key, None)
        answer = self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type, **conditions
        )
        if answer.get("ETag"):
            self._written[key] = (hashlib.sha256(data).hexdigest(), answer["ETag"])

    def write_bytes(self, key: str, data: bytes) -> None:
        try:
            self._put(key, data)
        except Exception as exc:
            raise _s3_error(exc, self.uri_for(key)) from None

    def replace_if(self, key: str, data: bytes, expected: bytes | None) -> bool:
        """Write ``data`` only if ``key`` holds exactly ``expected`` (None: does not exist); False if it does not.

        S3's conditional writes: If-None-Match for a new key, If-Match on the ETag of the bytes compared."""
        from botocore.exceptions import ClientError

        conditions: dict[str, str] = {"IfNoneMatch": "*"}
        written = self._written.get(key)
        if expected is not None and written and written[0] == hashlib.sha256(expected).hexdigest():
            conditions = {"IfMatch": written[1]}  # bytes this store wrote: their ETag is known, S3 compares it
        elif expected is not None:
            try:
                current = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise _s3_error(exc, self.uri_for(key)) from None
            if current["Body"].read() != expected:
                return False
            conditions = {"IfMatch": current["ETag"]}
        try:
            self._put(key, data, **conditions)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                return False
            raise _s3_error(exc, self.uri_for(key)) from None
        except Exception as exc:
            raise _s3_error(exc, self.uri_for(key)) from None
        return True

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise _s3_error(exc, self.uri_for(key)) from None
        except Exception as exc:
            raise _s3_error(exc, self.uri_for(key)) from None

    def list(self, prefix: str = "") -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(f"{self.prefix}/") if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except Exception as exc:
            raise _s3_error(exc, self.uri) from None
        return sorted(keys)

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def open_store(uri: str) -> Store:
    """A store for ``s3://bucket/prefix``, ``file:///abs/dir`` or a plain folder path."""
    if uri.startswith("s3://"):
        return S3Store(uri)
    if uri.startswith("file://"):
        return LocalStore(unquote(urlparse(uri).path))
    if "://" in uri:
        raise StoreError(f"unsupported store URI {uri!r}: use a folder, file:// or s3://")
    return LocalStore(uri)


def read_uri(uri: str, timeout: float = 60.0) -> bytes:
    """The bytes behind a local path, ``file://``, ``s3://`` or ``http(s)://`` URI."""
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        key = parsed.path.lstrip("/")
        if not key:
            raise StoreError(f"S3 URI names no object: {uri!r}")
        return S3Store(f"s3://{parsed.netloc}").read_bytes(key)
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri, timeout=timeout) as response:  # noqa: S310 (scheme checked)
                return response.read()
        except (urllib.error.URLError, TimeoutError) as exc:
            raise StoreError(f"cannot download {uri}: {getattr(exc, 'reason', exc)}") from None
    path = Path(unquote(urlparse(uri).path)) if uri.startswith("file://") else Path(uri).expanduser()
    if "://" in uri and not uri.startswith("file://"):
        raise StoreError(f"unsupported data URI {uri!r}: use a path, file://, s3:// or https://")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{uri} does not exist") from None
    except IsADirectoryError:
        raise StoreError(f"{uri} is a folder, not a data file") from None
