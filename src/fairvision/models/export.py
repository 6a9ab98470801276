"""Export a trained classifier as a SavedModel that TensorFlow Serving can serve unchanged.

The `serving_default` signature takes a batch of encoded image bytes, the form a REST
client sends as ``{"b64": ...}``, and returns class probabilities and class names, so
no client needs to know the model's input size or preprocessing. Beside it, the
explanation endpoints (``models/endpoints.py``) let `fairvision explain` read this
artifact alone.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Iterator, Sequence

import keras
import tensorflow as tf
from keras.src.export import saved_model_export_archive as export_archive
from tensorflow.core.protobuf import fingerprint_pb2

from fairvision.data.shards import label_problem
from fairvision.errors import FairvisionError
from fairvision.models.endpoints import explanation_endpoints
from fairvision.models.input import decode_batch

SIGNATURE = "serving_default"
LABELS_FILE = "labels.txt"
FINGERPRINT_FILE = "fingerprint.pb"


def write_labels(model_dir: Path, labels: Sequence[str]) -> None:
    """One label per line, exactly as in the data: labels may contain spaces ("East Asian", "more than 70").

    A label that ``label_problem`` refuses (a line break or control character) is an error naming it, as it
    could not be read back as one label; `prepare` rejects such labels first, so training never meets one.
    """
    path = model_dir / LABELS_FILE
    for label in labels:
        problem = label_problem(label)
        if problem is not None:
            raise FairvisionError(f"{path}: label {label!r} {problem}")
    path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8", newline="\n")


def read_labels(model_dir: Path) -> list[str]:
    """The labels written by ``write_labels``: its lines, split at line feeds only (never at spaces, nor at the
    other characters str.splitlines splits at); a line ``label_problem`` refuses is an error naming it."""
    path = model_dir / LABELS_FILE
    lines = path.read_bytes().decode("utf-8").split("\n")  # read_text would turn a lone "\r" into a line feed
    if lines[-1] == "":
        lines.pop()  # the last line's line feed
    for number, label in enumerate(lines, start=1):
        problem = label_problem(label)
        if problem is not None:
            raise FairvisionError(f"{path} line {number}: label {label!r} {problem}")
    return lines


def export_classifier(model: keras.Model, labels: Sequence[str], image_size: int, path: Path) -> None:
    """Write ``model`` with a bytes-in, probabilities-and-classes-out signature to ``path``, and the
    explanation endpoints beside it."""
    class_names = tf.constant(list(labels))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = model(decode_batch(image_bytes, image_size), training=False)
        classes = tf.tile(class_names[tf.newaxis, :], [tf.shape(probabilities)[0], 1])
        return {"probabilities": probabilities, "classes": classes}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve)
    for name, endpoint in explanation_endpoints(model, image_size).items():
        archive.add_endpoint(name, endpoint)
    with _variables_in_name_order():
        archive.write_out(str(path), verbose=False)
    _content_uuid(path / FINGERPRINT_FILE)


def _content_uuid(fingerprint_path: Path) -> None:
    """Replace the fingerprint's random uuid by one derived from its content hashes (byte-identical exports).

    TensorFlow writes a fresh random uuid into fingerprint.pb on every save; the hashes beside
    it already identify the model, so a uuid made from them is as unique and is stable.
    """
    fingerprint = fingerprint_pb2.FingerprintDef()
    fingerprint.ParseFromString(fingerprint_path.read_bytes())
    fingerprint.ClearField("uuid")
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(int.from_bytes(digest[:16], "big"))
    fingerprint_path.write_bytes(fingerprint.SerializeToString(deterministic=True))


@contextlib.contextmanager
def _variables_in_name_order() -> Iterator[None]:
    """Make Keras list the exported variables sorted by name, so identical weights give identical bytes.

    Keras orders them as the traced function captured them, which varies from run to run; the
    SavedModel's bytes then differ although every weight is equal, and DVC would see a new
    model after every retrain and rerun everything downstream. Only the listing order changes.
    """
    original = export_archive._list_variables_used_by_fns

    def sorted_by_name(fns):
        trainable, non_trainable = original(fns)
        return sorted(trainable, key=_variable_key), sorted(non_trainable, key=_variable_key)

    export_archive._list_variables_used_by_fns = sorted_by_name
    try:
        yield
    finally:
        export_archive._list_variables_used_by_fns = original


def _variable_key(variable) -> tuple[str, tuple[int, ...]]:
    return variable.name, tuple(variable.shape)


def load_classifier(path: str | Path):
    """The exported `serving_default` function of a SavedModel folder."""
    return tf.saved_model.load(str(path)).signatures[SIGNATURE]
