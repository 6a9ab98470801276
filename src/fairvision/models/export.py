"""Export a trained classifier as a SavedModel that TensorFlow Serving can serve unchanged.

The `serving_default` signature takes a batch of encoded image bytes, the form a REST
client sends as ``{"b64": ...}``, and returns class probabilities and class names, so
no client needs to know the model's input size or preprocessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from fairvision.errors import FairvisionError
from fairvision.models.input import decode_batch

SIGNATURE = "serving_default"
LABELS_FILE = "labels.txt"


def write_labels(model_dir: Path, labels: Sequence[str]) -> None:
    """One label per line, exactly as in the data: labels may contain spaces ("East Asian", "more than 70")."""
    broken = [label for label in labels if "\n" in label or "\r" in label]
    if broken:
        raise FairvisionError(f"labels cannot contain line breaks: {broken}")
    (model_dir / LABELS_FILE).write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")


def read_labels(model_dir: Path) -> list[str]:
    """The labels written by ``write_labels``, line by line (never split on spaces)."""
    return (model_dir / LABELS_FILE).read_text(encoding="utf-8").splitlines()


def export_classifier(model: keras.Model, labels: Sequence[str], image_size: int, path: Path) -> None:
    """Write ``model`` with a bytes-in, probabilities-and-classes-out signature to ``path``."""
    class_names = tf.constant(list(labels))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = model(decode_batch(image_bytes, image_size), training=False)
        classes = tf.tile(class_names[tf.newaxis, :], [tf.shape(probabilities)[0], 1])
        return {"probabilities": probabilities, "classes": classes}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve)
    archive.write_out(str(path), verbose=False)


def load_classifier(path: str | Path):
    """The exported `serving_default` function of a SavedModel folder."""
    return tf.saved_model.load(str(path)).signatures[SIGNATURE]
