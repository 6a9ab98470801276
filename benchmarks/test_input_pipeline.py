"""The tf.data training input vs. a plain single-threaded Pillow loop, and vs. training itself.

1,024 photo-like 64-pixel JPEGs in TFRecord shards (written by the project's own `write_shards`),
read at image_size 64 in batches of 64. An epoch of the tf.data input (parse, decode, resize,
shuffle, random flip, batch) must beat a Pillow loop doing the same per-image work on the same
encoded images (decode, resize, float32 array, flip every other image) by 2x in the same run.
With every augmentation on, the input must still deliver 5x the images/s of small_cnn's training
step (width 16, the fastest backbone) on images already in memory, so input never starves
training. The input is timed through one iterator over endless epochs: starting an iterator
(a quarter second here, paid once per epoch in training) is not throughput. Best of 10 rounds
for the input, of 3 for training (a round is 1,024 images).

Pillow holds one core and tf.data wants both, so the 2x needs two idle cores: on a machine where
another process keeps one busy, tf.data measured 1.2x.

Run: `.venv/bin/pytest benchmarks/test_input_pipeline.py --benchmark-group-by=group`
"""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fairvision.data.shards import shard_paths, write_shards
from fairvision.params import Augment
from fairvision.models.backbones import build_backbone
from fairvision.models.input import labelled_images

N_IMAGES = 1024
SIDE = 64
BATCH = 64
GOAL_OVER_PIL = 2.0
GOAL_OVER_TRAINING = 5.0
RESULTS: dict[str, float] = {}  # images/s


@pytest.fixture(scope="module")
def encoded() -> list[bytes]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(N_IMAGES):
        base = rng.integers(0, 256, (SIDE // 8, SIDE // 8, 3), dtype=np.uint8)  # smooth, photo-like content
        buffer = io.BytesIO()
        Image.fromarray(base).resize((SIDE, SIDE), Image.BILINEAR).save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


@pytest.fixture(scope="module")
def shards(encoded: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("shards")
    write_shards(folder, "train", [(str(n), image, n % 2) for n, image in enumerate(encoded)], 256)
    return shard_paths(folder, "train")


def images_per_second(benchmark) -> float:
    return N_IMAGES / benchmark.stats.stats.min


def pil_epoch(encoded: list[bytes]) -> None:
    for n, data in enumerate(encoded):
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((SIDE, SIDE), Image.BILINEAR)
        if n % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        np.asarray(image, dtype=np.float32)


def tf_data_epoch(batches) -> None:
    for _ in range(N_IMAGES // BATCH):
        next(batches)


def input_pipeline(shards: list[Path], augment: Augment):
    """One iterator over endless epochs: its start (a quarter second here, once per epoch) is no throughput."""
    return iter(labelled_images(shards, SIDE, BATCH, shuffle_seed=0, shuffle_buffer=N_IMAGES, augment=augment).repeat())


@pytest.mark.benchmark(group=f"input: {N_IMAGES} {SIDE}px JPEGs")
def test_baseline_pillow_loop(benchmark, encoded) -> None:
    benchmark.pedantic(pil_epoch, args=(encoded,), rounds=10, warmup_rounds=1)
    RESULTS["pillow"] = images_per_second(benchmark)


@pytest.mark.benchmark(group=f"input: {N_IMAGES} {SIDE}px JPEGs")
def test_tf_data_flip(benchmark, shards) -> None:
    batches = input_pipeline(shards, Augment(flip=True))
    benchmark.pedantic(tf_data_epoch, args=(batches,), rounds=10, warmup_rounds=1)
    RESULTS["tf.data flip"] = images_per_second(benchmark)
    assert "pillow" in RESULTS, "run the whole module: the baseline is measured first"
    assert RESULTS["tf.data flip"] >= GOAL_OVER_PIL * RESULTS["pillow"], RESULTS


@pytest.mark.benchmark(group=f"input: {N_IMAGES} {SIDE}px JPEGs")
def test_tf_data_every_augmentation(benchmark, shards) -> None:
    batches = input_pipeline(shards, Augment(flip=True, crop=0.1, brightness=0.1, contrast=0.1))
    benchmark.pedantic(tf_data_epoch, args=(batches,), rounds=10, warmup_rounds=1)
    RESULTS["tf.data every augmentation"] = images_per_second(benchmark)


@pytest.mark.benchmark(group=f"input: {N_IMAGES} {SIDE}px JPEGs")
def test_training_steps_small_cnn(benchmark) -> None:
    keras.utils.set_random_seed(0)
    model = build_backbone("small_cnn", SIDE, 2, {"width": 16})
    optimizer = keras.optimizers.Adam(1e-3)
    images = tf.random.stateless_uniform((BATCH, SIDE, SIDE, 3), (0, 0), maxval=255.0)
    labels = tf.range(BATCH, dtype=tf.int64) % 2

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    def epoch() -> None:
        for _ in range(N_IMAGES // BATCH):
            float(step())  # wait for the step, as the training loop does

    benchmark.pedantic(epoch, rounds=3, warmup_rounds=1)
    RESULTS["training"] = images_per_second(benchmark)
    assert "tf.data every augmentation" in RESULTS, "run the whole module: the input is measured first"
    assert RESULTS["tf.data every augmentation"] >= GOAL_OVER_TRAINING * RESULTS["training"], RESULTS
