"""Every worker resumes from the checkpoint the chief resumes from, or none of them trains.

Only the chief writes the per-epoch state, but every worker restores it, so all must read the
chief's folder. Where one cannot (a folder on each pod's own disk), the chief resumes after
epoch k and that worker from scratch: their collective ops stop pairing up, and training hangs
or silently diverges. So before any step the workers exchange what they found (the epoch and a
digest of the files), and every one of them stops with the same error when any differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from fairvision.errors import FairvisionError
from fairvision.models.checkpoint import Saved
from fairvision.models.strategy import is_chief, worker_count

_ROLES = ("chief", "worker")
_WORDS = 8  # the digest's first 128 bits as 16-bit words, which int32 collectives carry exactly


def require_chief_checkpoint(strategy: tf.distribute.Strategy, folder: Path, saved: Saved | None) -> None:
    """Return when every worker found the chief's checkpoint in its ``folder`` (or all found none).

    A no-op for one process. With several, it is a collective op: every worker must call it.

    Raises:
        FairvisionError: on every worker when one found other state than the chief, naming who found what.
    """
    if worker_count(strategy) < 2:
        return
    resolver = strategy.cluster_resolver
    own = [int(is_chief(strategy)), _ROLES.index(resolver.task_type), resolver.task_id, *_found(saved)]
    rows = sorted({tuple(int(v) for v in row) for row in _gather(strategy, own)},  # one per replica: dedupe
                  key=lambda row: row[1:3])  # chief, then workers by index
    chief = next(row for row in rows if row[0] == 1)
    if all(row[3:] == chief[3:] for row in rows):
        return
    found = "; ".join(f"{_who(row)}: {_what(row)}" for row in rows)
    raise FairvisionError(
        f"the workers found different checkpoints in their checkpoint folder ({folder} here): {found}. Only the "
        "chief writes it and every worker resumes from it, so it must be one folder they all read: point "
        "--checkpoint-dir or FAIRVISION_CHECKPOINT_DIR at a shared volume (not each pod's own disk), or remove "
        "the checkpoint to start afresh")


def _found(saved: Saved | None) -> list[int]:
    """Epoch and digest words of ``saved``; zeros for no checkpoint (a saved one is at least epoch 1)."""
    if saved is None:
        return [0] * (1 + _WORDS)
    return [saved.epoch, *(int.from_bytes(saved.digest[i:i + 2], "big") for i in range(0, 2 * _WORDS, 2))]


def _gather(strategy: tf.distribute.Strategy, row: list[int]) -> np.ndarray:
    """Every replica's ``row``, stacked, on every worker."""
    value = tf.constant([row], dtype=tf.int32)

    @tf.function
    def gather() -> tf.Tensor:
        return strategy.gather(strategy.run(lambda: tf.identity(value)), axis=0)

    return gather().numpy()


def _who(row: tuple[int, ...]) -> str:
    name = f"{_ROLES[row[1]]} {row[2]}"
    return f"{name} (the chief)" if row[0] and row[1] else name


def _what(row: tuple[int, ...]) -> str:
    if row[3] == 0:
        return "none"
    return f"the state after epoch {row[3]} (digest {''.join(f'{word:04x}' for word in row[4:6])}...)"
