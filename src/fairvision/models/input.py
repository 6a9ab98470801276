"""tf.data input and the image decode shared by training, evaluation and serving.

One decode function for all three means the pixels a model was trained on are exactly
the pixels it sees when served: no train/serve skew by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import tensorflow as tf

from fairvision.data.shards import read_records


def decode_image(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG bytes -> float32 RGB ``image_size`` square, values 0-255."""
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    return tf.ensure_shape(image, (image_size, image_size, 3))


def decode_batch(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """A 1-D string tensor of encoded images -> a float32 batch."""
    return tf.map_fn(
        lambda data: decode_image(data, image_size),
        image_bytes,
        fn_output_signature=tf.TensorSpec((image_size, image_size, 3), tf.float32),
    )


def labelled_images(
    paths: Sequence[Path],
    image_size: int,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    shuffle_buffer: int = 0,
) -> tf.data.Dataset:
    """Batches of (images, label indices); shuffled reproducibly when a seed is given."""
    dataset = read_records(paths)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.map(
        lambda example: (decode_image(example["image"], image_size), example["label"]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
