"""Resumable training: the whole training state after every epoch, restored on the next start.

The state is every model variable (weights, BatchNorm statistics, dropout's seed state), the
optimizer's variables, and the history so far; with the input pipeline advanced to the same
epoch (see ``labelled_images``), a resumed run ends with the same weights as an uninterrupted
one. A fingerprint of everything the run depends on guards the state: a checkpoint left by a
run with other parameters or data is discarded, never resumed from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fairvision.files import atomic_path

log = logging.getLogger(__name__)
STATE, ARRAYS = "state.json", "variables.npz"


def fingerprint(*parts: Any, files: Sequence[Path] = ()) -> str:
    """A digest of ``parts`` (JSON-able) and the bytes of ``files``."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def save(folder: Path, key: str, epoch: int, history: list[dict], variables: Sequence,
         optimizer_variables: Sequence) -> None:
    """Replace the checkpoint in ``folder`` with the state after ``epoch`` (never a half-written one)."""
    with atomic_path(folder, directory=True) as tmp:
        np.savez(tmp / ARRAYS, **_by_path("model", variables), **_by_path("optimizer", optimizer_variables))
        (tmp / STATE).write_text(json.dumps({"key": key, "epoch": epoch, "history": history}), encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class Saved:
    """A checkpoint as read: the epoch it was saved after, the history so far, the arrays, and a digest of
    its files, by which workers that cannot see each other's disks tell whether they read the same one."""

    epoch: int
    history: list[dict]
    arrays: dict[str, np.ndarray]
    digest: bytes


def load(folder: Path, key: str) -> Saved | None:
    """The state saved in ``folder`` if it was saved for ``key``, else None."""
    try:
        state_bytes = (folder / STATE).read_bytes()
        state = json.loads(state_bytes)
        if state.get("key") != key:
            log.info("%s: a checkpoint of another run (other parameters or data); starting afresh", folder)
            return None
        array_bytes = (folder / ARRAYS).read_bytes()
        digest = hashlib.sha256(state_bytes)
        digest.update(array_bytes)
        with np.load(io.BytesIO(array_bytes)) as arrays:
            return Saved(state["epoch"], state["history"], dict(arrays), digest.digest())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as error:
        log.warning("%s: unreadable checkpoint (%s); starting afresh", folder, error)
        return None


def restore(arrays: dict[str, np.ndarray], prefix: str, variables: Sequence) -> None:
    """Assign the saved arrays to ``variables`` by their paths; the two must match one to one."""
    saved = {name for name in arrays if name.startswith(f"{prefix}/")}
    wanted = {f"{prefix}/{variable.path}": variable for variable in variables}
    if saved != set(wanted):
        raise ValueError(f"the checkpoint's {prefix} variables differ from the run's: "
                         f"{sorted(saved ^ set(wanted))[:3]}")
    for name, variable in wanted.items():
        variable.assign(arrays[name])


def _by_path(prefix: str, variables: Sequence) -> dict[str, np.ndarray]:
    """Arrays keyed by each variable's path (order-free, so freezing layers cannot reorder them)."""
    arrays = {f"{prefix}/{variable.path}": np.asarray(variable.numpy()) for variable in variables}
    if len(arrays) != len(variables):
        raise ValueError(f"two {prefix} variables share a path; a checkpoint could not tell them apart")
    return arrays


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
