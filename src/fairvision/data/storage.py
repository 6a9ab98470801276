"""Where a dataset source lives: a local folder or ``s3://bucket/prefix``, read the same way.

Source readers (FairFace, Cloud Annotations) should not care whether their files sit on disk
or in an S3 bucket, so they read through a :class:`Root`: sorted relative keys, bytes, a
seekable file object (for zips), and an existence test. Local folders go through ``os``;
``s3://`` goes through fsspec's s3fs, imported only when an ``s3://`` location is opened so
local runs never pay for it.

Rules that hold for both kinds of root:

* **Credentials and endpoint come from the usual AWS places only** (``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` or
  ``AWS_ENDPOINT_URL_S3``, ``AWS_MAX_ATTEMPTS``, ...), resolved by botocore. They are never
  taken from params.yaml or from the location (``s3://key:secret@bucket`` is refused), and no
  message ever includes them: errors name the location, the key and, for an unreachable
  server, the endpoint without any user part.
* **Keys stay under the root.** A key is a relative POSIX path: no leading ``/``, no ``..``,
  ``.`` or empty parts, no backslashes. A local root also refuses a key whose symlinks resolve
  outside it, because keys usually come from data files (label CSVs, ``_annotations.json``)
  that the user did not write.
* **Failures are FairvisionErrors** naming the location (missing folder, bucket or prefix,
  access denied, unreachable endpoint, missing credentials), never a raw botocore traceback:
  the original exception is deliberately not chained, since its text can carry request URLs.
* **Images are read with a byte limit** (`prepare.max_image_bytes`): a file, or an S3 object,
  whose size (``os.fstat``, or HEAD's Content-Length, which s3fs reads on opening) is above it
  is refused before a byte of it is read, and no read goes past the limit, so one file cannot
  exhaust memory (`prepare` reads one image per CPU at a time).

Listing a local root does not descend into symlinked folders (they could form cycles);
reading a key through one that stays inside the root works.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import IO, Any, Iterator
from urllib.parse import urlsplit

from fairvision.errors import FairvisionError
from fairvision.keys import key_problem

__all__ = ["Root", "UnreadableFile", "open_root", "check_key", "read_capped"]

S3_SCHEME = "s3://"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class UnreadableFile(FairvisionError):
    """One file cannot be read (missing, refused key, a folder, access denied), while the root itself is fine.

    Sources turn it into a rejection of the row naming that file, with ``reason`` (which names
    neither the location nor any secret); a problem with the whole root stays a plain
    FairvisionError and stops the run.
    """

    def __init__(self, location: str, key: str, reason: str):
        super().__init__(f"{location}: file {key!r}: {reason}")
        self.reason = reason


def read_capped(handle: IO[bytes], *, size: int, max_bytes: int, location: str, key: str, what: str) -> bytes:
    """The bytes of ``handle``, whose ``size`` was declared before reading, if they are at most ``max_bytes``.

    A declared size above the limit refuses the file without reading it; otherwise at most
    ``max_bytes + 1`` bytes are read, so a size that lies (a file that grew, an archive entry
    that under-declares) costs no more memory than the limit either. ``what`` names the thing
    read in the reason ("image file", "inflated zip member").

    Raises:
        UnreadableFile: naming ``key`` and its size against `prepare.max_image_bytes`.
    """
    if size > max_bytes:
        raise UnreadableFile(location, key, f"{what} is {size:,} bytes, above prepare.max_image_bytes ({max_bytes:,})")
    data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFile(location, key, f"{what} holds more than its declared {size:,} bytes (stopped reading "
                                            f"past prepare.max_image_bytes, {max_bytes:,})")
    return data


def check_key(key: str) -> str:
    """Return ``key`` if ``key_problem`` finds nothing wrong with it.

    Raises:
        FairvisionError: naming the key and what is wrong with it.
    """
    problem = key_problem(key)
    if problem is not None:
        raise FairvisionError(f"file key {problem}")
    return key


class Root:
    """A folder of files, local or on S3, read by relative key.

    Build one with :func:`open_root`, which checks that the location exists before any work.

    Attributes:
        location: the location as given (a local path, or ``s3://bucket[/prefix]`` without a
            trailing slash); it is what every error message names.
        is_remote: True for S3.
    """

    def __init__(self, location: str, *, base: str, fs: Any | None) -> None:
        self.location = location
        self.is_remote = fs is not None
        self._base = base  # local: resolved absolute path; S3: "bucket[/prefix]"
        self._fs = fs

    def __repr__(self) -> str:
        return f"Root({self.location!r})"

    def list_files(self) -> list[str]:
        """Every file under the root, recursively, as sorted relative ``/``-separated keys."""
        if self._fs is None:
            keys = []
            try:
                for folder, _dirs, files in os.walk(self._base, onerror=_raise):
                    relative = os.path.relpath(folder, self._base)
                    prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
                    keys.extend(prefix + name for name in files)
            except OSError as error:
                raise _local_error(self.location, error) from None
            return sorted(keys)
        with self._s3_errors():
            found = self._fs.find(self._base)
        start = self._base + "/"  # skips a folder-marker object named like the prefix itself
        return sorted(path[len(start) :] for path in found if path.startswith(start) and len(path) > len(start))

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a file under the root (a folder or prefix is not)."""
        path = self._path(key)
        if self._fs is None:
            return Path(path).is_file()
        with self._s3_errors(key):
            return bool(self._fs.isfile(path))

    def is_dir(self, key: str) -> bool:
        """Whether ``key`` is a folder (on S3: a prefix with objects under it)."""
        path = self._path(key)
        if self._fs is None:
            return Path(path).is_dir()
        with self._s3_errors(key):
            return bool(self._fs.isdir(path))

    def read(self, key: str, max_bytes: int | None = None) -> bytes:
        """The whole content of ``key``; a missing key is a FairvisionError naming it.

        With ``max_bytes`` (images), a larger file is an :class:`UnreadableFile`, refused by
        its size before any byte of it is read (see :func:`read_capped`).
        """
        with self.open(key) as handle:
            if max_bytes is None:
                return handle.read()
            size = handle.size if self._fs is not None else os.fstat(handle.fileno()).st_size
            return read_capped(handle, size=size, max_bytes=max_bytes, location=self.location, key=key,
                               what="image file")

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        """A seekable binary file object for ``key`` (``zipfile`` reads members without a full download)."""
        path = self._path(key)
        if self._fs is None:
            try:
                handle: IO[bytes] = open(path, "rb")
            except OSError as error:
                raise _local_error(self.location, error, key) from None
            with handle:
                yield handle
            return
        with self._s3_errors(key):
            handle = self._fs.open(path, "rb")
        with handle, self._s3_errors(key):
            yield handle

    def _path(self, key: str) -> str:
        problem = key_problem(key)
        if problem is not None:
            raise UnreadableFile(self.location, key, f"refused: {problem}")
        if self._fs is not None:
            return f"{self._base}/{key}"
        path = os.path.join(self._base, *key.split("/"))
        resolved = os.path.realpath(path)
        if os.path.commonpath([resolved, self._base]) != self._base:
            raise UnreadableFile(self.location, key, "resolves (through a symlink) outside the dataset root")
        return path

    @contextlib.contextmanager
    def _s3_errors(self, key: str | None = None) -> Iterator[None]:
        """Turn s3fs/botocore failures into FairvisionErrors that name the location, not secrets."""
        import botocore.exceptions

        try:
            yield
        except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _s3_error(self.location, error, key) from None


def open_root(location: str | os.PathLike[str]) -> Root:
    """Open a dataset source: a local folder, or ``s3://bucket`` / ``s3://bucket/prefix``.

    Args:
        location: a local path, or an ``s3://`` URL; S3 credentials and endpoint come from the
            usual AWS environment variables or profile, never from the location.

    Returns:
        A :class:`Root` whose folder (local), bucket, or prefix (at least one object under it)
        exists.

    Raises:
        FairvisionError: for an unsupported scheme, credentials in the URL, a missing folder,
            bucket or prefix, access denied, missing credentials or an unreachable endpoint.
    """
    text = os.fspath(location)
    if not isinstance(text, str):
        raise FairvisionError(f"dataset location must be a path or s3:// URL, got {text!r}")
    if text[: len(S3_SCHEME)].lower() == S3_SCHEME:
        return _open_s3(text)
    if _SCHEME.match(text):
        raise FairvisionError(f"dataset location {text!r}: only local folders and s3://bucket/prefix are supported")
    base = os.path.realpath(text)
    if not os.path.exists(base):
        raise FairvisionError(f"dataset folder {text} does not exist")
    if not os.path.isdir(base):
        raise FairvisionError(f"dataset location {text} is not a folder")
    return Root(text, base=base, fs=None)


def split_s3(location: str, kind: str, named: str) -> tuple[str, str]:
    """``location`` (s3://bucket[/prefix]) as (bucket, prefix), checked: no credentials or port in it (the message
    never echoes it: it may hold a secret), a bucket name of 3 characters or more, a plain relative prefix.
    ``kind`` says what the location is ("dataset location", "site"); ``named`` is how other messages name it."""
    bucket, _, prefix = location[len(S3_SCHEME) :].partition("/")
    if "@" in bucket or ":" in bucket:
        raise FairvisionError(
            f"an s3:// {kind} must not carry credentials or a port; set AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and AWS_ENDPOINT_URL for a non-AWS server"
        )
    prefix = prefix.strip("/")
    if len(bucket) < 3:
        raise FairvisionError(f"{named}: an S3 bucket name has at least 3 characters")
    if prefix:
        try:
            check_key(prefix)
        except FairvisionError:
            raise FairvisionError(f"{named}: the prefix must be a plain relative path") from None
    return bucket, prefix


def _open_s3(text: str) -> Root:
    bucket, prefix = split_s3(text, "dataset location", f"dataset location {text!r}")
    base = f"{bucket}/{prefix}" if prefix else bucket
    location = f"{S3_SCHEME}{base}"

    import s3fs  # imported here so that local-only use never loads botocore

    # Our own instance (not fsspec's shared cache) without a listings cache: a Root sees the
    # bucket as it is now, and other code's filesystem settings cannot leak into it.
    root = Root(location, base=base, fs=s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False))
    with root._s3_errors():
        found = root._fs.isdir(base)
    if not found:
        with root._s3_errors():
            bucket_found = root._fs.isdir(bucket) if prefix else False
        if bucket_found:
            raise FairvisionError(f"{location}: no objects under this prefix (is the prefix spelled right?)")
        raise FairvisionError(f"{location}: bucket {bucket!r} does not exist (or is not visible to these credentials)")
    return root


def _raise(error: OSError) -> None:
    raise error


def _local_error(location: str, error: OSError, key: str | None = None) -> FairvisionError:
    if isinstance(error, FileNotFoundError):
        reason = "does not exist"
    elif isinstance(error, IsADirectoryError):
        reason = "is a folder, not a file"
    elif isinstance(error, PermissionError):
        reason = "permission denied"
    else:
        reason = error.strerror or type(error).__name__
    return UnreadableFile(location, key, reason) if key is not None else FairvisionError(f"{location}: {reason}")


def _s3_error(location: str, error: Exception, key: str | None) -> FairvisionError:
    """A message from the error's kind only: botocore's text can carry request URLs."""
    import botocore.exceptions

    what = f"{location}: file {key!r}" if key is not None else location
    if isinstance(error, (FileNotFoundError, PermissionError)):
        reason = ("does not exist" if isinstance(error, FileNotFoundError)
                  else "access denied by S3 (check the credentials and the bucket policy)")
        return UnreadableFile(location, key, reason) if key is not None else FairvisionError(f"{location}: {reason}")
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return FairvisionError(
            f"{location}: no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    if isinstance(error, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        return FairvisionError(f"{location}: cannot reach the S3 endpoint {_endpoint()}")
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "unknown")
        return FairvisionError(f"{what}: S3 refused the request ({code})")
    return FairvisionError(f"{what}: S3 request failed ({type(error).__name__})")


def _endpoint() -> str:
    """The endpoint botocore will use, as configured in the environment, minus any user part."""
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return "(AWS default for the region)"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
