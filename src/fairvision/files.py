"""Atomic output: a stage either leaves a complete file or none at all, and never a stray one that counts.

Everything is written beside its destination under a temporary name and moved into place with
a rename. Beside, not in one scratch folder for the project: ``rename(2)`` is atomic only within
one mount (it fails with EXDEV across mount points, even two mounts of one filesystem), an output
folder may be a volume, a tmpfs or outside the project, and the destination's own folder is the
one place always on the destination's mount.

A temporary's name is ``.<destination name>.<random>.fairvision-tmp`` (``TEMP_SUFFIX``). The
project's ``.dvcignore`` and ``.gitignore`` both match that suffix, so one left behind by a
killed process (SIGKILL, the OOM killer) is hashed by no stage, changes no ``dvc status``
and is never committed; DVC applies ``.dvcignore`` inside output and dependency folders alike.
Such leftovers are also swept: while it is written, a temporary is held under an advisory lock
(``flock``, which the kernel drops when its process dies, however it dies), and every write
into a folder first removes the temporaries there that no live process holds.

A directory replaces an older one by renaming the older aside first, so the destination is
at every instant either the old complete directory, the new complete one, or (for the moment
between the two renames) absent; it is never half-deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from fairvision.errors import FairvisionError, NoSpaceLeft, is_no_space

TEMP_SUFFIX = ".fairvision-tmp"  # matched by .dvcignore and .gitignore: keep the three in step


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; move it onto ``destination`` on success.

    With ``directory=True`` the yielded path is an empty directory that replaces
    ``destination`` as a whole (an older directory there is moved aside, then removed).
    On an exception the temporary output is deleted and ``destination`` is untouched; a full
    disk (ENOSPC, or a used-up quota) becomes a ``NoSpaceLeft`` error naming ``destination``.
    Temporaries that killed processes left in the destination's folder are removed first.
    """
    destination = Path(destination)
    parent = destination.parent
    parent.mkdir(parents=True, exist_ok=True)
    sweep(parent)
    prefix = f".{destination.name}."
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=parent))
        lock = os.open(tmp, os.O_RDONLY)
    else:
        lock, name = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=parent)
        tmp = Path(name)
    try:
        _hold(lock)
        yield tmp
        if directory:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; outputs are meant to be shared
            _replace_directory(tmp, destination)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, destination)
    except BaseException as error:
        _remove(tmp)
        if is_no_space(error):
            raise NoSpaceLeft(destination) from error
        raise
    finally:
        os.close(lock)  # releases the lock: from here on a sweep may remove whatever is left


def sweep(folder: str | os.PathLike[str]) -> None:
    """Remove the temporaries in ``folder`` that no live process is writing.

    A temporary is abandoned when its advisory lock can be taken: the writer holds it from
    creation to rename, and the kernel releases it when the writer exits or is killed. (A
    temporary made a moment ago and not yet locked could be taken for abandoned; its writer
    then fails on the missing folder, or rewrites the missing file, never writes a partial one.)
    """
    try:
        entries = [entry for entry in os.scandir(folder) if entry.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # gone already, or not something we made (a symlink)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it (or this filesystem has no locks: leave it, it is ignored)
            os.close(fd)
            continue
        try:
            _remove(Path(entry.path))
        finally:
            os.close(fd)


def _hold(fd: int) -> None:
    """Take a shared lock on a fresh temporary; a filesystem without locks only costs the sweep."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)


def _replace_directory(tmp: Path, destination: Path) -> None:
    """Move ``tmp`` onto ``destination``; an older ``destination`` is renamed aside first, then removed."""
    aside = None
    if os.path.lexists(destination):
        aside = tmp.with_name(f"{tmp.name[: -len(TEMP_SUFFIX)]}.old{TEMP_SUFFIX}")
        os.rename(destination, aside)
    try:
        os.replace(tmp, destination)
    except BaseException:
        if aside is not None and not os.path.lexists(destination):
            os.rename(aside, destination)
        raise
    if aside is not None:
        _remove(aside)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


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
