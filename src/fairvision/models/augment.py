"""Training-time augmentation: random flips, crops, brightness and contrast, drawn statelessly.

Every random value comes from an explicit seed (stateless ops), never from a random op's hidden
state, so an augmented batch is a pure function of its seed: training stays bit-reproducible for a
seed on CPU. Only the training input calls this; evaluation and serving see unaugmented pixels.
What to draw is params.yaml `train.augment` (:class:`fairvision.params.Augment`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fairvision.params import Augment

if TYPE_CHECKING:
    import tensorflow as tf

def augment_images(images: tf.Tensor, augment: Augment, seed: tf.Tensor) -> tf.Tensor:
    """Augment one 0-255 image [H, W, 3] or a batch [N, H, W, 3], uint8 or float; ``seed`` has shape [2].

    Returns float32. Each image of a batch draws its own values, so a batch is not flipped or
    brightened as a whole. Passes over the pixels are what cost here, so they are few: a flip
    moves bytes before the cast to float, or rides on the crop when both are on, and brightness
    and contrast share one multiply and one add.
    """
    import tensorflow as tf

    if images.shape.rank == 3:
        return augment_images(images[tf.newaxis], augment, seed)[0]
    if not augment.active:
        return tf.cast(images, tf.float32)
    count = tf.shape(images)[0]
    crop_seed, flip_seed, brightness_seed, contrast_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    )
    flip = tf.random.stateless_uniform([count], flip_seed) < 0.5 if augment.flip else tf.zeros([count], tf.bool)
    if augment.crop > 0:
        images = _crop(images, augment.crop, flip, crop_seed)
    elif augment.flip:
        images = _mirror(images, flip)
    images = tf.cast(images, tf.float32)
    if augment.brightness > 0 or augment.contrast > 0:
        # (x - mean) * factor + mean + delta, as one multiply and one add over the pixels
        shape, offset = tf.stack([count, 1, 1, 1]), 0.0
        if augment.brightness > 0:
            offset = 255.0 * tf.random.stateless_uniform(shape, brightness_seed, -augment.brightness,
                                                         augment.brightness)
        if augment.contrast > 0:
            factor = tf.random.stateless_uniform(shape, contrast_seed, 1.0 - augment.contrast, 1.0 + augment.contrast)
            offset += tf.reduce_mean(images, axis=(1, 2), keepdims=True) * (1.0 - factor)
            images = images * factor
        images = tf.clip_by_value(images + offset, 0.0, 255.0)
    return images


def _mirror(images: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """Mirror left-right the images where ``flip`` is true; only those are reversed (a gather of
    3-value pixels, or reversing the whole batch and selecting, costs about twice as much)."""
    import tensorflow as tf

    selected = tf.cast(flip, tf.int32)
    kept, mirrored = tf.dynamic_partition(images, selected, 2)
    kept_at, mirrored_at = tf.dynamic_partition(tf.range(tf.shape(images)[0]), selected, 2)
    return tf.dynamic_stitch([kept_at, mirrored_at], [kept, tf.reverse(mirrored, axis=[2])])


def _crop(images: tf.Tensor, fraction: float, flip: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A square window of each image, its side 1 - fraction to 1 of the image's, resized back to full size.

    A box whose x1 exceeds its x2 is sampled mirrored, so the flipped images cost nothing more.
    """
    import tensorflow as tf

    count = tf.shape(images)[0]
    side = tf.random.stateless_uniform([count, 1], seed, minval=1.0 - fraction, maxval=1.0)
    corner = tf.random.stateless_uniform([count, 2], tf.random.experimental.stateless_fold_in(seed, 1)) * (1.0 - side)
    top, left = tf.unstack(corner, axis=1)
    right = left + side[:, 0]
    boxes = tf.stack([top, tf.where(flip, right, left), top + side[:, 0], tf.where(flip, left, right)], axis=1)
    return tf.image.crop_and_resize(images, boxes, tf.range(count), tf.shape(images)[1:3], method="bilinear")
