"""Publish a trained model where TF Serving and KServe's TensorFlow runtime load it: ``<base>/<version>/``.

TF Serving serves the highest numbered sub-folder of its base path and ignores every other entry, so
a model folder as `fairvision train` writes it (``models/<D>/<B>/seed-<S>/``: saved_model.pb,
variables/, assets/, labels.txt) is published under the next version number. Publishing the model
that the newest version already holds changes nothing; another model becomes version N + 1, which
TF Serving then switches to. The base is a local folder (a volume) or ``s3://bucket/prefix``
(credentials and endpoint from the usual AWS environment, as for datasets). S3 has no atomic
folders, so saved_model.pb is written last: a version is only loadable once it is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
from pathlib import Path
from typing import Any, Iterator

from fairvision.errors import FairvisionError

S3_SCHEME = "s3://"
GRAPH = "saved_model.pb"  # what TF Serving's loader requires in a version folder


@dataclasses.dataclass(frozen=True)
class Published:
    """Where a model went: its version under ``base``, and whether this call wrote it (False: it was there)."""

    base: str
    version: int
    written: bool


def servable_versions(names: list[str]) -> list[int]:
    """The version numbers TF Serving sees among a base path's entries: the names that are whole numbers."""
    return sorted(int(name) for name in names if name.isascii() and name.isdigit())


def publish(model_dir: str | os.PathLike[str], base: str) -> Published:
    """Publish the model folder ``model_dir`` as the next version under ``base`` unless the newest holds it already.

    Raises:
        FairvisionError: a model folder without saved_model.pb, or a base that cannot be listed or written
            (naming it; never credentials).
    """
    source = Path(model_dir)
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    if GRAPH not in files:
        raise FairvisionError(f"{source}: no {GRAPH}, so not an exported model (`fairvision train` writes one)")
    fs, root = _filesystem(base)
    with _errors(base):
        if base.startswith(S3_SCHEME) and not fs.exists(root.split("/", 1)[0]):  # s3fs would create it
            raise FairvisionError(f"{base}: bucket {root.split('/', 1)[0]!r} does not exist (or is not visible to "
                                  "these credentials)")
        versions = servable_versions([posixpath.basename(p.rstrip("/")) for p in fs.ls(root, detail=False)]
                                     if fs.exists(root) else [])
        if versions and _holds(fs, posixpath.join(root, str(versions[-1])), source, files):
            return Published(base, versions[-1], written=False)
        version = versions[-1] + 1 if versions else 1
        target = posixpath.join(root, str(version))
        for name in sorted(files, key=lambda name: name == GRAPH):  # the graph last: complete before loadable
            destination = posixpath.join(target, name)
            fs.makedirs(posixpath.dirname(destination), exist_ok=True)  # on S3: nothing (no folders)
            fs.put_file(str(source / name), destination)
    return Published(base, version, written=True)


def _holds(fs: Any, folder: str, source: Path, files: list[str]) -> bool:
    """Whether ``folder`` holds exactly ``files`` of ``source``, byte for byte."""
    found = sorted(posixpath.relpath(path, folder) for path in fs.find(folder))
    return found == files and all(fs.cat_file(posixpath.join(folder, name)) == (source / name).read_bytes()
                                  for name in files)


def _filesystem(base: str) -> tuple[Any, str]:
    """An fsspec filesystem for ``base`` and the path of the base on it."""
    if base.startswith(S3_SCHEME):
        bucket = base[len(S3_SCHEME):].split("/", 1)[0]
        if "@" in bucket or ":" in bucket:
            raise FairvisionError("an s3:// location must not carry credentials or a port; set AWS_ACCESS_KEY_ID/"
                                  "AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and AWS_ENDPOINT_URL for a non-AWS server")
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False), base[len(S3_SCHEME):].rstrip("/")
    if "://" in base:
        raise FairvisionError(f"{base}: a model is published to a folder or to s3://bucket/prefix")
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), str(Path(base).resolve())


@contextlib.contextmanager
def _errors(base: str) -> Iterator[None]:
    """Storage failures as FairvisionErrors naming the base and the kind of failure, never a request's text."""
    import botocore.exceptions

    try:
        yield
    except (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise FairvisionError(f"{base}: could not publish the model ({type(error).__name__})") from None
