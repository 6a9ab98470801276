"""tf.data input and the image decode shared by training, evaluation and serving.

One decode function for all three means the pixels a model was trained on are exactly
the pixels it sees when served: no train/serve skew by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from fairvision.data.shards import parse_examples
from fairvision.errors import FairvisionError
from fairvision.models.augment import augment_images
from fairvision.params import Augment

# Decodes one call keeps in flight, and records per call where the batch size does not set it
# (before the cache): enough that a call's overhead is small next to its decodes.
DECODE_CHUNK = 64


def decode_image(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG/GIF/BMP bytes -> a uint8 RGB ``image_size`` square.

    An image already at that size skips the resize, which costs about three decodes at 64 px: at
    scale 1 the antialiased bilinear kernel weighs only the pixel itself, so the pixels are the same.
    A resized image is rounded back to 8 bits, as Pillow does: the input stays a byte per channel
    until the batch is cast, which costs a quarter of float work and of cache memory.
    """
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    shape = tf.shape(image)
    image = tf.cond(
        tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size)),
        lambda: image,
        lambda: tf.saturate_cast(tf.round(tf.image.resize(image, (image_size, image_size), method="bilinear",
                                                          antialias=True)), tf.uint8),
    )
    return tf.ensure_shape(image, (image_size, image_size, 3))


def decode_pixels(image_bytes: tf.Tensor, image_size: int, *, parallel_iterations: int | None = None) -> tf.Tensor:
    """A 1-D string tensor of encoded images -> a uint8 batch [N, image_size, image_size, 3]."""
    return tf.map_fn(
        lambda data: decode_image(data, image_size),
        image_bytes,
        fn_output_signature=tf.TensorSpec((image_size, image_size, 3), tf.uint8),
        parallel_iterations=parallel_iterations,
    )


def decode_batch(image_bytes: tf.Tensor, image_size: int, *, parallel_iterations: int | None = None) -> tf.Tensor:
    """A 1-D string tensor of encoded images -> the float32 batch (values 0-255) a model takes."""
    return tf.cast(decode_pixels(image_bytes, image_size, parallel_iterations=parallel_iterations), tf.float32)


def labelled_images(
    paths: Sequence[Path],
    image_size: int,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    shuffle_buffer: int = 0,
    augment: Augment = Augment(),
    cache: bool = False,
    weights: Mapping[str, float] | None = None,
) -> tf.data.Dataset:
    """Batches of (images, label indices), or (images, label indices, weights) given per-id ``weights``;
    shuffled reproducibly, and augmented, when a seed is given.

    Records are parsed and decoded a batch per call, several batches at once: a call per record
    costs more than decoding a small JPEG. ``cache`` keeps the decoded split in memory (a byte per
    channel) after the first epoch (and the shuffle buffer then holds decoded images too); shuffling is content-blind,
    so the batches are the same with or without it. Augmentation draws one seed per batch from
    ``shuffle_seed``, different every epoch and the same every run. Each new iteration of the
    returned dataset is the next epoch: its order and augmentation advance when an iterator is made.
    """
    if augment.active and shuffle_seed is None:
        raise ValueError("labelled_images: augmentation draws its randomness from `shuffle_seed`; none was given")
    records = tf.data.TFRecordDataset([str(p) for p in paths])
    if cache:
        records = _decoded(records.batch(DECODE_CHUNK), image_size).unbatch().cache()
    if shuffle_seed is not None:
        records = records.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    batches = records.batch(batch_size)
    if not cache:
        batches = _decoded(batches, image_size)
    if augment.active:
        seeds = tf.data.Dataset.random(seed=shuffle_seed, rerandomize_each_iteration=True)
        batches = tf.data.Dataset.zip(batches, seeds).map(
            lambda batch, seed: (augment_images(batch[0], augment, tf.stack([seed, shuffle_seed])), *batch[1:]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        batches = batches.map(lambda images, *rest: (tf.cast(images, tf.float32), *rest))
    if weights is None:
        batches = batches.map(lambda images, labels, ids: (images, labels))
    else:
        lookup = weight_lookup(weights)
        batches = batches.map(lambda images, labels, ids: (images, labels, lookup(ids)))
    return batches.prefetch(tf.data.AUTOTUNE)


# Fingerprints of ids: 63 bits, so that N ids collide with probability about N^2 / 2^64 (checked anyway).
_ID_BUCKETS = 2**63 - 1


def weight_lookup(weights: Mapping[str, float]) -> Callable[[tf.Tensor], tf.Tensor]:
    """Each id's weight by a stateless lookup: the ids' fingerprints sorted, found by binary search; NaN for an
    id without a weight (every train id has one: a NaN loss would show one did not).

    Not a lookup table: a table is a stateful resource, and with op determinism on, a stateful
    map after the parallel decode makes tf.data rewrite that decode into a sequential map that
    keeps an attribute its op lacks (TensorFlow then logs "NodeDef mentions attribute
    use_unbounded_threadpool" at error level every epoch). Fingerprints, searchsorted and gather
    are stateless, and the weights are the same.
    """
    fingerprints = tf.strings.to_hash_bucket_fast(tf.constant(list(weights), tf.string), _ID_BUCKETS).numpy()
    if len(np.unique(fingerprints)) != len(fingerprints):
        raise FairvisionError("two training ids share a 63-bit fingerprint; rename one of them")
    order = np.argsort(fingerprints)
    known = tf.constant(fingerprints[order])
    values = tf.constant(np.asarray(list(weights.values()), dtype=np.float32)[order])

    def lookup(ids: tf.Tensor) -> tf.Tensor:
        wanted = tf.strings.to_hash_bucket_fast(ids, _ID_BUCKETS)
        position = tf.minimum(tf.searchsorted(known, wanted), len(fingerprints) - 1)
        return tf.where(tf.gather(known, position) == wanted, tf.gather(values, position), float("nan"))

    return lookup


def _decoded(serialized: tf.data.Dataset, image_size: int) -> tf.data.Dataset:
    """Batches of serialized records -> batches of (uint8 images, labels, ids), several batches in parallel."""

    def decode(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        examples = parse_examples(batch)
        images = decode_pixels(examples["image"], image_size, parallel_iterations=DECODE_CHUNK)
        return images, examples["label"], examples["id"]

    return serialized.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
