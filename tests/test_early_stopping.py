"""Early stopping on the validation loss: stop once it has not improved for `patience` epochs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from fairvision.models.backbones import build_backbone
from fairvision.models.train import _stop, fit


def rows(*losses: float) -> list[dict[str, float]]:
    return [{"epoch": i + 1, "val_loss": loss} for i, loss in enumerate(losses)]


@pytest.mark.parametrize(("losses", "patience", "stop"), [
    ((1.0, 0.9, 0.95, 0.96), 2, True),   # two epochs without beating 0.9
    ((1.0, 0.9, 0.95), 2, False),        # only one so far
    ((1.0, 0.9, 0.95, 0.89), 2, False),  # improved in the window
    ((1.0, 0.9, 0.9), 1, True),          # equal is no improvement
    ((1.0, 2.0, 3.0), 0, False),         # 0 = off
])
def test_the_rule(losses: tuple[float, ...], patience: int, stop: bool) -> None:
    assert _stop(rows(*losses), patience) is stop


def test_fit_stops_and_says_so() -> None:
    """Labels unrelated to the images: the validation loss soon stops improving at a high learning rate."""
    tf.keras.utils.set_random_seed(0)
    model = build_backbone("small_cnn", 16, 2, {"width": 2})
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (64, 16, 16, 3)).astype("float32")
    train = tf.data.Dataset.from_tensor_slices((images, rng.integers(0, 2, 64))).batch(16)
    val = tf.data.Dataset.from_tensor_slices((images[:32], rng.integers(0, 2, 32))).batch(16)
    fitted = fit(model, train, val, epochs=30, learning_rate=0.05, patience=1, strategy=tf.distribute.get_strategy(),
                 label="tiny")
    assert fitted.stopped_early and len(fitted.history) < 30
    assert _stop(fitted.history, 1) and not _stop(fitted.history[:-1], 1)
