"""Stage `train@<backbone>`: a seeded, strategy-agnostic custom training loop.

A custom loop rather than ``Model.fit`` because Keras 3's ``fit`` fails under
``MultiWorkerMirroredStrategy``; the same loop runs on one CPU or, given a TF_CONFIG,
on several workers. With a fixed seed and op determinism a CPU run is repeatable.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fairvision.data.manifest import class_labels
from fairvision.data.shards import shard_paths
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, require, write_json
from fairvision.models.backbones import build_backbone
from fairvision.models.export import export_classifier, write_labels
from fairvision.models.input import labelled_images
from fairvision.params import Train

log = logging.getLogger(__name__)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def train(
    backbone: str, options: dict[str, Any], params: Train, prepared_dir: str | Path, out_dir: str | Path,
    history_path: str | Path, timing_path: str | Path,
) -> None:
    """Train ``backbone``: the SavedModel, labels.txt and train.json to ``out_dir``, per-epoch metrics to
    ``history_path`` (CSV), wall time and images/s to ``timing_path`` (JSON).

    ``out_dir`` holds only what the seed determines, so a retrain with identical weights leaves
    its hash (and everything downstream) unchanged; wall-clock facts stay outside it.
    """
    prepared_dir = Path(prepared_dir)
    manifest = pd.read_parquet(require(prepared_dir / "manifest.parquet", "prepare"), columns=["split", "label"])
    labels = class_labels(manifest)
    keras.utils.set_random_seed(params.seed)
    tf.config.experimental.enable_op_determinism()
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = build_backbone(backbone, params.image_size, len(labels), options)
        optimizer = keras.optimizers.Adam(params.learning_rate)
    shards = prepared_dir / "shards"
    train_data = labelled_images(
        shard_paths(shards, "train"), params.image_size, params.batch_size,
        shuffle_seed=params.seed, shuffle_buffer=params.shuffle_buffer,
    )
    val_data = labelled_images(shard_paths(shards, "val"), params.image_size, params.batch_size)
    step = _make_step(model, optimizer, strategy, training=True)
    evaluate = _make_step(model, optimizer, strategy, training=False)

    history, images_seen, started = [], 0, time.perf_counter()
    for epoch in range(1, params.epochs + 1):
        train_stats = _run_epoch(step, strategy, train_data)
        val_stats = _run_epoch(evaluate, strategy, val_data)
        images_seen += train_stats["count"]
        row = {"epoch": epoch, "loss": train_stats["loss"], "accuracy": train_stats["accuracy"],
               "val_loss": val_stats["loss"], "val_accuracy": val_stats["accuracy"]}
        history.append(row)
        log.info("%s epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f", backbone, epoch,
                 params.epochs, row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"])
    wall = time.perf_counter() - started

    summary = {
        "backbone": backbone, "options": options, "seed": params.seed, "epochs": params.epochs,
        "batch_size": params.batch_size, "learning_rate": params.learning_rate, "image_size": params.image_size,
        "n_train": int((manifest["split"] == "train").sum()), "n_val": int((manifest["split"] == "val").sum()),
        "parameters": int(model.count_params()), "labels": labels, "tensorflow": tf.__version__,
        "final": {k: v for k, v in history[-1].items() if k != "epoch"},
    }
    speed = {"wall_seconds": round(wall, 2), "images_per_second": round(images_seen / wall, 1)}
    with atomic_path(out_dir, directory=True) as tmp:
        export_classifier(model, labels, params.image_size, tmp)
        write_labels(tmp, labels)
        write_json(tmp / "train.json", summary)
    with atomic_path(history_path) as tmp:
        _write_history(tmp, history)
    write_json(timing_path, speed)
    log.info("%s: %.1f s, %.0f images/s -> %s", backbone, wall, speed["images_per_second"], out_dir)


def _make_step(model: keras.Model, optimizer, strategy: tf.distribute.Strategy, *, training: bool):
    """A compiled step returning (loss sum, correct, count), summed over replicas."""

    def replica_step(images: tf.Tensor, labels: tf.Tensor):
        with tf.GradientTape() as tape:
            probabilities = model(images, training=training)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example)
        if training:
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.cast(tf.equal(tf.argmax(probabilities, axis=-1), labels), tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(correct), tf.cast(tf.size(labels), tf.float32)

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor):
        totals = strategy.run(replica_step, args=(images, labels))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None) for t in totals]

    return step


def _run_epoch(step, strategy: tf.distribute.Strategy, data: tf.data.Dataset) -> dict[str, float]:
    totals = np.zeros(3)
    for images, labels in strategy.experimental_distribute_dataset(data):
        totals += [float(t) for t in step(images, labels)]
    loss, correct, count = totals
    if count == 0:
        raise FairvisionError("a split has no images: nothing to train or validate on")
    return {"loss": loss / count, "accuracy": correct / count, "count": int(count)}


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in history)
