"""TFRecord shards: the training and evaluation input, one ``tf.train.Example`` per image.

Images are stored as the encoded bytes found in the source (JPEG/PNG), so the decode
that training and serving share (models.input.decode_image) sees exactly what a
client would send.

A record's label is an index into the class names, which the trained model keeps in
labels.txt, one per line; :func:`label_problem` is the one rule for what a class name may
hold, applied by `prepare` to every label a source gives and by ``models.export`` when it
writes and reads labels.txt. It lives here because this is the data module that `prepare`
and every model stage already import.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Iterable, Sized

SHARD_PATTERN = "{split}-{index:05d}-of-{count:05d}.tfrecord"
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: every character at which
# str.splitlines splits (\n \r \v \f \x1c-\x1e \x85 \u2028 \u2029) is one of them.
_LINE_BREAK_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a class name, or None.

    labels.txt holds one label per line, read back split at line feeds only: a line break or any
    other control character in a label (possible in a folder name or a Cloud Annotations label)
    would read back as two labels, or as one that differs, and shift every later class name.
    """
    if not label:
        return "is empty"
    found = _LINE_BREAK_OR_CONTROL.search(label)
    if found is None:
        return None
    return (f"contains U+{ord(found.group()):04X}, a line break or control character "
            "(labels.txt holds one label per line)")


def shard_paths(shards_dir: str | Path, split: str) -> list[Path]:
    """The shards of one split in order; empty when the split has no images."""
    return sorted(Path(shards_dir).glob(f"{split}-*-of-*.tfrecord"))


def write_shards(
    shards_dir: Path,
    split: str,
    records: Iterable[tuple[str, bytes, int]],
    shard_size: int,
    *,
    total: int | None = None,
) -> None:
    """Write (id, encoded image, label index) records in the given order, ``shard_size`` per file.

    ``records`` may be a lazy iterable (then ``total``, its length, is required), so a
    caller can stream images from disk and only one image is held at a time; the file
    names carry the shard count, which is why the length must be known up front.
    """
    import tensorflow as tf

    if total is None:
        if not isinstance(records, Sized):
            raise TypeError("write_shards: `total` is required when `records` has no length")
        total = len(records)
    count = max(1, math.ceil(total / shard_size))
    iterator = iter(records)
    written = 0
    for index in range(count):
        path = shards_dir / SHARD_PATTERN.format(split=split, index=index, count=count)
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record_id, image, label in itertools.islice(iterator, shard_size):
                writer.write(_example(record_id, image, label))
                written += 1
    if written != total or next(iterator, None) is not None:
        raise ValueError(f"write_shards: {split} was announced with {total} records but had a different count")


def _example(record_id: str, image: bytes, label: int) -> bytes:
    import tensorflow as tf

    feature = {
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[record_id.encode()])),
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    # deterministic=True sorts the feature map by name: without it protobuf writes map entries
    # in a per-process hash order, so the same records gave different shard bytes run to run.
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def parse_example(serialized):  # tf.Tensor -> dict of tf.Tensor
    """Parse one serialized Example into ``id``, ``image`` (bytes) and ``label``."""
    import tensorflow as tf

    return tf.io.parse_single_example(serialized, _features())


def parse_examples(serialized):  # tf.Tensor -> dict of tf.Tensor
    """``parse_example`` for a 1-D batch: one op per batch instead of one per record, which is faster."""
    import tensorflow as tf

    return tf.io.parse_example(serialized, _features())


def _features():  # -> dict of tf.io.FixedLenFeature
    import tensorflow as tf

    return {
        "id": tf.io.FixedLenFeature([], tf.string),
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }


def read_records(paths: Iterable[Path]):
    """A tf.data.Dataset of parsed examples from ``paths``, in file order."""
    import tensorflow as tf

    return tf.data.TFRecordDataset([str(p) for p in paths]).map(parse_example)
