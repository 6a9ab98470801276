"""Where a site is published: a local folder or ``s3://bucket/prefix``, read and written one whole file at a time.

The site's guarantee (the index never links a missing file) rests on two properties a target
must have: a file is either absent or complete (a folder writes through ``files.atomic_path``, a
rename; S3 stores an object only once its PUT completes), and a write has happened when
``write`` returns. The order of writes is the caller's (``fairvision.publish.build``).

S3 is reached through s3fs, with credentials and endpoint from the usual AWS environment, as
dataset sources are (``fairvision.data.storage``): never from the URL, and no error message
carries a request's text. Objects get the Content-Type a web server would give their suffix, so
a bucket served as a website shows the pages.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from pathlib import Path
from typing import Any, Iterator, Protocol

from fairvision.data.storage import S3_SCHEME, check_key, split_s3
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml"}


class Target(Protocol):
    """A site's storage: ``location`` as the user gave it, files by key (a relative POSIX path)."""

    location: str

    def read(self, key: str) -> bytes | None:
        """The file's bytes, or None where there is none."""

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` as the whole file ``key``, replacing any older one."""


def open_target(location: str) -> Target:
    """The folder or S3 prefix ``location``, checked before any work: the folder is made, the bucket must exist.

    Raises:
        FairvisionError: an unsupported scheme, credentials in the URL, a folder that cannot be made, a missing
            bucket, access denied, missing credentials or an unreachable S3 endpoint, each naming ``location``.
    """
    if location[:len(S3_SCHEME)].lower() == S3_SCHEME:
        return S3Target(location)
    if "://" in location:
        raise FairvisionError(f"{location}: publish to a folder or to s3://bucket/prefix")
    return FolderTarget(location)


class FolderTarget:
    """A local folder (made if missing); each file written beside its place, then renamed onto it."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/") or location
        self._root = Path(location)
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FairvisionError(f"{location}: cannot make the site's folder ({error.strerror or error})") from None

    def read(self, key: str) -> bytes | None:
        path = self._root / check_key(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise FairvisionError(f"{path}: cannot read ({error.strerror or error})") from None

    def write(self, key: str, data: bytes) -> None:
        path = self._root / check_key(key)
        try:
            with atomic_path(path) as tmp:  # a full disk is a NoSpaceLeft naming the path
                tmp.write_bytes(data)
        except OSError as error:
            raise FairvisionError(f"{path}: cannot write ({error.strerror or error})") from None


class S3Target:
    """An S3 bucket, or a prefix in one; its bucket must exist (publishing makes no bucket)."""

    def __init__(self, location: str) -> None:
        bucket, prefix = split_s3(location, "site", location)
        import s3fs  # only when publishing to S3: a folder never loads botocore

        self.location = f"{S3_SCHEME}{bucket}/{prefix}" if prefix else f"{S3_SCHEME}{bucket}"
        self._bucket, self._prefix = bucket, prefix
        # Our own instance without a listings cache: the site as it is now, whatever other code configured.
        self._fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
        with self._errors():
            self._fs.call_s3("head_bucket", Bucket=bucket)

    def read(self, key: str) -> bytes | None:
        with self._errors(key):
            try:
                return self._fs.cat_file(self._path(key))
            except FileNotFoundError:
                return None

    def write(self, key: str, data: bytes) -> None:
        content_type = CONTENT_TYPES.get(posixpath.splitext(key)[1], "application/octet-stream")
        with self._errors(key):
            self._fs.pipe_file(self._path(key), data, ContentType=content_type)

    def _path(self, key: str) -> str:
        return "/".join(part for part in (self._bucket, self._prefix, check_key(key)) if part)

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """s3fs and botocore failures as FairvisionErrors naming the location and the kind, never the request."""
        import botocore.exceptions

        try:
            yield
        except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            where = self.location if key is None else f"{self.location}: {key}"
            raise FairvisionError(f"{where}: {_reason(error, self._bucket)}") from None


def _reason(error: Any, bucket: str) -> str:
    """What went wrong, from the error's kind alone: botocore's text can carry request URLs."""
    import botocore.exceptions

    if isinstance(error, FileNotFoundError):
        return f"bucket {bucket!r} does not exist (or is not visible to these credentials); publishing makes no bucket"
    if isinstance(error, PermissionError):
        return "access denied by S3 (check the credentials and the bucket policy)"
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    if isinstance(error, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return ("cannot reach the S3 endpoint (" + ("AWS_ENDPOINT_URL is set" if endpoint else "AWS's default")
                + "); check the network and the endpoint")
    return f"S3 request failed ({type(error).__name__})"
