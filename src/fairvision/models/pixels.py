"""The test split's images as the exported model's pixel endpoints take them.

`explain` and `discover` both run the served model's endpoints on test images named by a
predictions table; both read them here, from the prepared TFRecord shards, decoded exactly as
serving decodes them (``models.input.decode_batch``), a batch at a time so that a large test
split never sits in memory as floats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from fairvision.data.shards import read_records, shard_paths
from fairvision.errors import FairvisionError
from fairvision.files import require

BATCH = 256  # images decoded at a time


def iter_test_images(prepared_dir: Path, image_size: int, wanted: Sequence[str] | None = None,
                 batch_size: int = BATCH) -> Iterator[tuple[list[str], np.ndarray]]:
    """The test images (those of ``wanted`` only, when given) as (ids, pixels [n, S, S, 3] float32 0-255) batches,
    in the shards' order. Raises FairvisionError naming the shards when a wanted id is not a test image
    (predictions from another preparation of the data)."""
    import tensorflow as tf

    from fairvision.models.input import decode_batch

    paths = shard_paths(require(prepared_dir / "shards", "prepare"), "test")
    keep = None if wanted is None else set(wanted)
    seen: set[str] = set()
    pending_ids: list[str] = []
    pending: list[bytes] = []

    def flush() -> tuple[list[str], np.ndarray]:
        pixels = decode_batch(tf.constant(pending), image_size).numpy()
        out = (list(pending_ids), pixels)
        pending_ids.clear()
        pending.clear()
        return out

    for records in read_records(paths).batch(1024):
        for raw_id, data in zip(records["id"].numpy(), records["image"].numpy()):
            image_id = raw_id.decode()
            if keep is not None and image_id not in keep:
                continue
            seen.add(image_id)
            pending_ids.append(image_id)
            pending.append(data)
            if len(pending) == batch_size:
                yield flush()
    if pending:
        yield flush()
    missing = (keep or set()) - seen
    if missing:
        raise FairvisionError(f"{prepared_dir / 'shards'}: test images {sorted(missing)[:3]} of the predictions are "
                              "not in the test shards; rerun `fairvision evaluate`")


def read_test_pixels(prepared_dir: Path, ids: Sequence[str], image_size: int) -> np.ndarray:
    """The decoded test images of ``ids`` [N, S, S, 3], float32 0-255, in the order of ``ids`` (a few: all in memory)."""
    found: dict[str, np.ndarray] = {}
    for batch_ids, pixels in iter_test_images(prepared_dir, image_size, ids):
        found.update(zip(batch_ids, pixels))
    if not ids:
        return np.zeros((0, image_size, image_size, 3), np.float32)
    return np.stack([found[i] for i in ids])
