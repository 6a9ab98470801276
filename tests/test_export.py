"""The exported SavedModel is a pure function of the weights: two trainings that end with the same weights
export byte-identical folders.

DVC hashes the model folder; if the bytes changed with every export (Keras lists the variables
in capture order, TensorFlow writes a random uuid into fingerprint.pb), every retrain would
look like a new model and rerun evaluate, audit and report for nothing. Each export runs in a
process of its own, as `fairvision train` does (TensorFlow numbers traced functions per process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tensorflow as tf

from fairvision.models.export import load_classifier

EXPORT = """
import sys, keras
from pathlib import Path
from fairvision.models.backbones import build_backbone
from fairvision.models.export import export_classifier
keras.utils.set_random_seed(0)
export_classifier(build_backbone("small_cnn", 16, 3, {"width": 4}), ["a", "b c", "d"], 16, Path(sys.argv[1]))
"""


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_exports_of_the_same_weights_are_byte_identical(tmp_path: Path) -> None:
    for name in ("one", "two"):
        subprocess.run([sys.executable, "-c", EXPORT, str(tmp_path / name)], check=True, capture_output=True,
                       env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert {"fingerprint.pb", "saved_model.pb"} <= set(files(tmp_path / "one"))
    assert tf.saved_model.experimental.read_fingerprint(str(tmp_path / "one")).checkpoint_hash  # still valid
    image = tf.io.encode_png(tf.zeros([16, 16, 3], tf.uint8))
    assert load_classifier(tmp_path / "two")(image_bytes=tf.stack([image]))["probabilities"].shape == (1, 3)
