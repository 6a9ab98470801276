"""`freeze_epochs`: the base network is frozen (BatchNorm statistics included) for N epochs, then trained.

Traced, as in training: after unfreezing, the loop must trace a new step, since a traced step
keeps the trainable variables it first saw. A tiny model shaped like the library backbones (a
nested base network, then the head) keeps the tracing fast; tests/test_library_backbones.py
checks that `base_network` finds the real ones.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fairvision.models import train
from fairvision.models.backbones import base_network


def test_the_base_is_frozen_for_freeze_epochs_then_trained(monkeypatch: pytest.MonkeyPatch) -> None:
    keras.utils.set_random_seed(0)
    model = _tiny_backbone()
    base, head = base_network(model), model.get_layer("probabilities")
    snapshots = [_weights(base, head)]
    run_epoch = train._run_epoch

    def run_epoch_and_snapshot(step, strategy, data, bar=None):  # the loop runs train, then val, each epoch
        stats = run_epoch(step, strategy, data, bar)
        snapshots.append(_weights(base, head))
        return stats

    monkeypatch.setattr(train, "_run_epoch", run_epoch_and_snapshot)
    images = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 3)).astype("float32")
    labels = np.array([0, 0, 0, 1] * 2)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    train.fit(model, data, data, epochs=2, learning_rate=0.01, freeze_epochs=1,
              strategy=tf.distribute.get_strategy(), label="tiny")

    (base_0, head_0), (base_1, head_1), (base_2, _) = snapshots[0], snapshots[1], snapshots[3]
    assert _changed(base_1, base_0) == set()  # moving means and variances included
    assert _changed(head_1, head_0)
    changed = _changed(base_2, base_1)
    assert changed & {v.path for v in base.trainable_variables}
    assert changed & {v.path for v in base.non_trainable_variables}  # BatchNorm in training mode again


def _tiny_backbone() -> keras.Model:
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(images)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    base = keras.Model(images, keras.layers.GlobalAveragePooling2D()(x), name="base")
    pixels = keras.Input((8, 8, 3), name="pixels")
    return keras.Model(pixels, keras.layers.Dense(2, activation="softmax", name="probabilities")(base(pixels)))


def _weights(*layers: keras.Layer) -> list[dict[str, np.ndarray]]:
    return [{v.path: v.numpy().copy() for v in layer.variables} for layer in layers]


def _changed(after: dict[str, np.ndarray], before: dict[str, np.ndarray]) -> set[str]:
    return {path for path, value in after.items() if not np.array_equal(value, before[path])}
