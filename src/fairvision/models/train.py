"""Stage `train@<dataset>-<backbone>-<seed>`: one seeded training loop for every strategy, resumable.

A custom loop rather than ``Model.fit`` because Keras 3's ``fit`` fails under
``MultiWorkerMirroredStrategy``; the same loop runs on one CPU, on every local GPU (mixed
precision) or on the workers of a TFJob or TrainJob (``models/strategy.py``). With a
fixed seed and op determinism a CPU run is repeatable, and with a checkpoint after every
epoch a killed run started again ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fairvision.closure import code_digest
from fairvision.data.manifest import class_labels
from fairvision.data.shards import shard_paths
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, require, write_json
from fairvision.models import checkpoint
from fairvision.models.agreement import require_chief_checkpoint
from fairvision.models.backbones import base_network, build_backbone, frozen_epochs, reweighed_attributes
from fairvision.models.export import export_classifier, write_labels
from fairvision.models.input import labelled_images
from fairvision.models.reweighing import reweighing
from fairvision.models.strategy import distribution_strategy, is_chief, strategy_name, use_mixed_precision
from fairvision.params import Train
from fairvision.progress import image_counter

log = logging.getLogger(__name__)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
CODE = "fairvision.commands.train"  # the train stage's command module: its closure is the stage's code


@dataclasses.dataclass(frozen=True)
class Fitted:
    """What a run of the loop did: the per-epoch history and how many images it trained on this time."""

    history: list[dict[str, float]]
    images_seen: int
    stopped_early: bool


def train(
    backbone: str, options: dict[str, Any], params: Train, prepared_dir: str | Path, out_dir: str | Path,
    history_path: str | Path, timing_path: str | Path, *, seed: int, checkpoint_dir: str | Path | None = None,
) -> None:
    """Train ``backbone`` with ``seed`` (weights, data order, augmentation draws): the SavedModel, labels.txt
    and train.json to ``out_dir``, per-epoch metrics to ``history_path`` (CSV), wall time and images/s to
    ``timing_path`` (JSON).

    ``out_dir`` holds only what the seed determines, so a retrain with identical weights leaves
    its hash (and everything downstream) unchanged; wall-clock facts stay outside it. With
    ``checkpoint_dir``, the state after every epoch is kept there and a run started again
    resumes from it; it is removed once the model is written. On several workers only the
    chief writes outputs and the checkpoint, and every worker resumes from it, so
    ``checkpoint_dir`` must be a folder they all read (they check that they agree).
    """
    prepared_dir = Path(prepared_dir)
    manifest_path = require(prepared_dir / "manifest.parquet", "prepare")
    manifest = pd.read_parquet(manifest_path)
    labels = class_labels(manifest)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    strategy = distribution_strategy()
    mixed = use_mixed_precision()
    with strategy.scope():
        model = build_backbone(backbone, params.image_size, len(labels), options)
    if strategy.num_replicas_in_sync > 1:
        _synchronize_batchnorm(model)
    attributes = reweighed_attributes(backbone, options)
    train_rows = manifest[manifest["split"] == "train"]
    weights = reweighing(train_rows, attributes, f"backbones.{backbone}.reweighing") if attributes else None
    shards = prepared_dir / "shards"
    train_data = labelled_images(
        shard_paths(shards, "train"), params.image_size, params.batch_size,
        shuffle_seed=seed, shuffle_buffer=params.shuffle_buffer, augment=params.augment, cache=params.cache,
        weights=None if weights is None else weights.by_id.to_dict(),
    )
    val_data = labelled_images(shard_paths(shards, "val"), params.image_size, params.batch_size, cache=params.cache)
    chief = is_chief(strategy)
    state = None
    if checkpoint_dir is not None:
        key = checkpoint_key(backbone, options, params, seed, labels, manifest_path)
        state = Checkpointing(Path(checkpoint_dir), key, write=chief)
    started = time.perf_counter()
    fitted = fit(model, train_data, val_data, epochs=params.epochs, learning_rate=params.learning_rate,
                 freeze_epochs=frozen_epochs(backbone, options), patience=params.early_stopping_patience,
                 strategy=strategy, label=backbone, n_train=len(train_rows), checkpointing=state)
    wall = time.perf_counter() - started
    history = fitted.history

    summary = {
        "backbone": backbone, "options": options, "seed": seed, "epochs": params.epochs,
        "epochs_run": len(history), "stopped_early": fitted.stopped_early,
        "early_stopping_patience": params.early_stopping_patience,
        "batch_size": params.batch_size, "learning_rate": params.learning_rate, "image_size": params.image_size,
        "augment": dataclasses.asdict(params.augment), "n_train": len(train_rows),
        "n_val": int((manifest["split"] == "val").sum()), "parameters": int(model.count_params()), "labels": labels,
        "strategy": strategy_name(strategy), "replicas": strategy.num_replicas_in_sync, "mixed_precision": mixed,
        "reweighing": None if weights is None else weights.record(), "tensorflow": tf.__version__,
        "final": {k: v for k, v in history[-1].items() if k != "epoch"},
    }
    speed = {"wall_seconds": round(wall, 2), "images_per_second": round(fitted.images_seen / wall, 1)}
    # Every worker exports (saving distributed variables may need them all); only the chief keeps it.
    target = Path(out_dir) if chief else Path(tempfile.mkdtemp(prefix="fairvision-worker-")) / "model"
    with atomic_path(target, directory=True) as tmp:
        export_classifier(model, labels, params.image_size, tmp)
        write_labels(tmp, labels)
        write_json(tmp / "train.json", summary)
    if not chief:
        shutil.rmtree(target.parent, ignore_errors=True)
        return
    with atomic_path(history_path) as tmp:
        _write_history(tmp, history)
    write_json(timing_path, speed)
    if state is not None:
        checkpoint.remove(state.folder)
    log.info("%s: %.1f s, %.0f images/s -> %s", backbone, wall, speed["images_per_second"], out_dir)


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Where the loop keeps its state, under which fingerprint, and whether this process writes it."""

    folder: Path
    key: str
    write: bool = True


def checkpoint_key(backbone: str, options: dict[str, Any], params: Train, seed: int, labels: list[str],
                   manifest_path: Path) -> str:
    """What a checkpoint must have been saved for to be resumed: the backbone and its options, every training
    setting, the seed, the labels, the manifest's bytes and the train stage's code (``code_digest``), so that
    no run resumes state that other data, settings or code produced."""
    settings = {**{k: v for k, v in dataclasses.asdict(params).items() if k != "seeds"}, "seed": seed}
    return checkpoint.fingerprint(backbone, options, settings, labels, code_digest(CODE),
                                  files=[manifest_path])


def fit(
    model: keras.Model, train_data: tf.data.Dataset, val_data: tf.data.Dataset, *, epochs: int,
    learning_rate: float, freeze_epochs: int = 0, patience: int = 0, strategy: tf.distribute.Strategy, label: str,
    n_train: int | None = None, checkpointing: Checkpointing | None = None,
) -> Fitted:
    """Train ``model`` in place for up to ``epochs`` epochs with Adam.

    The base network (``base_network``) stays frozen for the first ``freeze_epochs`` epochs:
    not trainable, so its BatchNorm layers run in inference mode too. With ``patience`` > 0,
    training stops once the validation loss has not improved for that many epochs (the last
    epoch's weights are kept, as Keras' EarlyStopping does by default). ``train_data`` yields
    (images, labels) or (images, labels, per-example loss weights).
    """
    evaluate = _make_step(model, strategy)
    history: list[dict[str, float]] = []
    images_seen, optimizer, step = 0, None, None
    resumed = None
    if checkpointing is not None:
        resumed = checkpoint.load(checkpointing.folder, checkpointing.key)
        require_chief_checkpoint(strategy, checkpointing.folder, resumed)
    if resumed is not None:
        done, history = resumed.epoch, list(resumed.history)
        checkpoint.restore(resumed.arrays, "model", model.variables)
        if done < epochs and done != freeze_epochs:  # the next epoch continues the saved phase's optimizer
            optimizer, step = _training_step(model, strategy, learning_rate, frozen=done < freeze_epochs)
            checkpoint.restore(resumed.arrays, "optimizer", optimizer.variables)
        for _ in range(done):  # each new iterator is the next epoch's order and augmentation
            iter(train_data)
        log.info("%s: resumed from %s after epoch %d", label, checkpointing.folder, done)
    for epoch in range(len(history) + 1, epochs + 1):
        if _stop(history, patience):
            break
        if step is None or epoch == freeze_epochs + 1:
            optimizer, step = _training_step(model, strategy, learning_rate, frozen=epoch <= freeze_epochs)
        bar = image_counter(f"{label} epoch {epoch}/{epochs}", n_train)
        train_stats = _run_epoch(step, strategy, train_data, bar)
        bar.close()
        val_stats = _run_epoch(evaluate, strategy, val_data)
        images_seen += train_stats["count"]
        row = {"epoch": epoch, "loss": train_stats["loss"], "accuracy": train_stats["accuracy"],
               "val_loss": val_stats["loss"], "val_accuracy": val_stats["accuracy"]}
        history.append(row)
        log.info("%s epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f", label, epoch,
                 epochs, row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"])
        if checkpointing is not None and checkpointing.write:
            checkpoint.save(checkpointing.folder, checkpointing.key, epoch, history, model.variables,
                            optimizer.variables)
    return Fitted(history, images_seen, stopped_early=len(history) < epochs)


def _stop(history: list[dict[str, float]], patience: int) -> bool:
    """Whether the validation loss has not improved on its best for the last ``patience`` epochs."""
    if patience <= 0 or len(history) <= patience:
        return False
    losses = [row["val_loss"] for row in history]
    return min(losses[-patience:]) >= min(losses[:-patience])


def _training_step(model: keras.Model, strategy: tf.distribute.Strategy, learning_rate: float, *, frozen: bool):
    """A fresh optimizer and a training step for it, with the base network frozen or not.

    Each phase needs its own: a traced step keeps the trainable variables it was traced with,
    and a Keras optimizer updates only the variables it was built for (a fresh one also
    restarts Adam's bias correction for the newly trainable weights). The optimizer is built
    at once, so a checkpoint's state can be assigned to it.
    """
    base = base_network(model)
    if base is not None:
        base.trainable = not frozen
    with strategy.scope():
        optimizer = keras.optimizers.Adam(learning_rate)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    return optimizer, _make_step(model, strategy, optimizer)


def _make_step(model: keras.Model, strategy: tf.distribute.Strategy, optimizer=None):
    """A compiled step returning (loss sum, correct, count), summed over replicas; it trains given an optimizer.

    The summed loss is the unweighted cross-entropy, comparable across runs; with loss weights
    (reweighing) the gradient comes from the weighted mean.
    """
    training = optimizer is not None

    def replica_step(images: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor | None = None):
        with tf.GradientTape() as tape:
            probabilities = tf.cast(model(images, training=training), tf.float32)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, sample_weight=weights)
            if training and isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                loss = optimizer.scale_loss(loss)
        if training:
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.cast(tf.equal(tf.argmax(probabilities, axis=-1), labels), tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(correct), tf.cast(tf.size(labels), tf.float32)

    @tf.function
    def step(*batch: tf.Tensor):
        totals = strategy.run(replica_step, args=batch)
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None) for t in totals]

    return step


def _run_epoch(step, strategy: tf.distribute.Strategy, data: tf.data.Dataset, bar=None) -> dict[str, float]:
    """Run ``step`` over ``data``; each step's totals are read one step late, so that on a GPU the
    next step is queued before the host waits for the last one's numbers."""
    totals, pending = np.zeros(3), None
    for batch in strategy.experimental_distribute_dataset(_shard_by_data(data)):
        result = step(*batch)
        if pending is not None:
            totals += _collect(pending, bar)
        pending = result
    if pending is not None:
        totals += _collect(pending, bar)
    loss, correct, count = totals
    if count == 0:
        raise FairvisionError("a split has no images: nothing to train or validate on")
    return {"loss": loss / count, "accuracy": correct / count, "count": int(count)}


def _collect(values, bar) -> np.ndarray:
    """A step's (loss sum, correct, count) on the host; the progress bar advances by its images."""
    collected = np.array([float(t) for t in values])
    if bar is not None:
        bar.update(int(collected[2]))
    return collected


def _synchronize_batchnorm(layer) -> None:
    """Every BatchNormalization layer normalizes by the statistics of the global batch, not of its replica's part."""
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.synchronized = True
    for inner in getattr(layer, "layers", ()):
        _synchronize_batchnorm(inner)


def _shard_by_data(data: tf.data.Dataset) -> tf.data.Dataset:
    """``data`` split between workers by batch, not by file (DATA rather than AUTO sharding).

    AUTO gives each worker whole shard files: it fails outright when a split has fewer files than
    there are workers, and shards of unequal size give the workers different numbers and sizes
    of batches, so their collective ops stop matching. With DATA every worker reads the split
    and keeps its part of every global batch; all shuffle with the same seed, so together they
    see each image once an epoch, in the order one process would.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in history)
