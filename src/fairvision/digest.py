"""Content hashes of a file and of a folder: what a model card and a published run are identified by.

A card names the exact prepared dataset and model it describes (so an auditor can check they hold the
same bytes), and `fairvision publish` tells two dirty runs of one revision apart by their reports'
content. Both need a hash of a folder that depends on its files' paths and bytes only (not on mtimes,
permissions or the order the filesystem lists them), so the same folder copied elsewhere hashes the same.

Core, not part of any stage: the report stage and `fairvision publish` both import it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fairvision.errors import FairvisionError
from fairvision.files import TEMP_SUFFIX

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex; read in blocks, so a large file costs no memory."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
    except FileNotFoundError:
        raise FairvisionError(f"{path}: not found; run the stage that writes it first") from None
    except OSError as error:
        raise FairvisionError(f"{path}: cannot read: {error.strerror or error}") from None
    return digest.hexdigest()


def folder_files(folder: str | os.PathLike[str]) -> list[str]:
    """The regular files under ``folder``, recursively, as sorted relative POSIX paths.

    Temporaries of interrupted atomic writes (``files.TEMP_SUFFIX``) are left out, as DVC leaves them
    out (.dvcignore): they are no part of the output.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FairvisionError(f"{root}: not found (or not a folder); run the stage that writes it first")
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.is_file() and not path.name.endswith(TEMP_SUFFIX))


def folder_sha256(folder: str | os.PathLike[str]) -> str:
    """The SHA-256 of a folder: over each file's relative path and the SHA-256 of its bytes, in path order.

    A file renamed, added, removed or changed changes it; copying the folder elsewhere does not.
    """
    digest = hashlib.sha256()
    for name in folder_files(folder):
        digest.update(f"{name}\0{file_sha256(Path(folder) / name)}\n".encode("utf-8"))
    return digest.hexdigest()
