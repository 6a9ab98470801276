"""Atomic output: a stage either leaves a complete file or none at all.

Everything is written beside its destination under a temporary name and moved
into place with ``os.replace``, which is atomic on one filesystem, so an
interrupted or failed stage never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from fairvision.errors import FairvisionError


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; move it onto ``destination`` on success.

    With ``directory=True`` the yielded path is an empty directory that replaces
    ``destination`` as a whole (an older directory there is removed first).
    On an exception the temporary output is deleted and ``destination`` is untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; outputs are meant to be shared
            if destination.exists():
                shutil.rmtree(destination)
            os.replace(tmp, destination)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, destination)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(destination: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(destination) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(destination: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically, indented and key-ordered as given, for readable diffs."""
    write_text(destination, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def require(path: str | os.PathLike[str], producer: str) -> Path:
    """``path`` if it exists, else a FairvisionError saying which command makes it."""
    path = Path(path)
    if not path.exists():
        raise FairvisionError(f"{path}: not found; run `fairvision {producer}` first")
    return path


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` refusing NaN and Infinity (not JSON, and not a number any check can compare)."""
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
