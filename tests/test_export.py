"""The exported SavedModel is a pure function of the weights: two trainings that end with the same weights
export byte-identical folders.

DVC hashes the model folder; if the bytes changed with every export (Keras lists the variables
in capture order, TensorFlow writes a random uuid into fingerprint.pb), every retrain would
look like a new model and rerun evaluate, audit and report for nothing. Each export runs in a
process of its own, as `fairvision train` does (TensorFlow numbers traced functions per process).

Beside it, labels.txt must give back exactly the labels written, one per line, or say why not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from fairvision.errors import FairvisionError
from fairvision.models.export import load_classifier, read_labels, write_labels

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


SPLITTING = [("a\u2028b", "U+2028"), ("a\x85b", "U+0085"), ("a\x1cb", "U+001C"), ("a\rb", "U+000D"), ("a\tb", "U+0009")]


@pytest.mark.parametrize(("label", "code"), [*SPLITTING, ("a\nb", "U+000A")])
def test_a_label_that_would_not_come_back_is_refused(tmp_path: Path, label: str, code: str) -> None:
    """str.splitlines would read one of these as two labels; a label shifted by one names every prediction wrongly."""
    with pytest.raises(FairvisionError) as caught:
        write_labels(tmp_path, ["cat", label])
    assert str(caught.value) == (f"{tmp_path / 'labels.txt'}: label {label!r} contains {code}, a line break or "
                                 "control character (labels.txt holds one label per line)")
    assert not (tmp_path / "labels.txt").exists()
    labels = ["East Asian", "more than 70", "<b>chat</b> & “cat”", "café", "\u200bzero width"]  # come back as written
    write_labels(tmp_path, labels)
    assert read_labels(tmp_path) == labels


@pytest.mark.parametrize(("label", "code"), SPLITTING)
def test_labels_txt_is_read_at_line_feeds_only(tmp_path: Path, label: str, code: str) -> None:
    """A labels.txt written by hand, or by an older version, with such a label: an error naming its line, never
    a list one longer than the model's classes."""
    (tmp_path / "labels.txt").write_bytes(f"cat\n{label}\ndog\n".encode())
    with pytest.raises(FairvisionError) as caught:
        read_labels(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'labels.txt'} line 2: label {label!r} contains {code}, ")


def test_the_label_rule_refuses_every_character_splitlines_splits_on() -> None:
    from fairvision.data.shards import label_problem

    splitting = [chr(code) for code in range(0x110000) if len(f"a{chr(code)}b".splitlines()) > 1]
    assert len(splitting) == 10  # \n \v \f \r \x1c \x1d \x1e \x85 \u2028 \u2029
    assert all(label_problem(f"a{char}b") for char in splitting)
    assert label_problem("") == "is empty"
    assert label_problem("East Asian") is None and label_problem("more than 70") is None
