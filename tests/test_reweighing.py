"""Reweighing: AIF360's weights for every group × label cell, and the training loss really uses them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from conftest import TINY_EPOCHS
from fairvision.cli import main
from fairvision.errors import FairvisionError
from fairvision.models.backbones import build_backbone
from fairvision.models.reweighing import reweighing
from fairvision.models.train import fit

TRAIN = pd.DataFrame({
    "id": [f"train/{i}" for i in range(10)],
    "label": ["F", "F", "F", "M", "F", "M", "M", "M", "M", "F"],
    "race": ["A", "A", "A", "A", "B", "B", "B", "B", "B", "B"],
    "age": ["1", "2", "1", "2", "1", "2", "1", "2", "1", "2"],
})


def test_weights_are_p_group_times_p_label_over_p_cell() -> None:
    weights = reweighing(TRAIN, ["race"], "backbones.x.reweighing")
    # race A: 4 rows (3 F, 1 M); B: 6 rows (2 F, 4 M); F: 5 of 10, M: 5 of 10.
    expected = {("A", "F"): (4 / 10) * (5 / 10) / (3 / 10), ("A", "M"): (4 / 10) * (5 / 10) / (1 / 10),
                ("B", "F"): (6 / 10) * (5 / 10) / (2 / 10), ("B", "M"): (6 / 10) * (5 / 10) / (4 / 10)}
    assert {(g, y): w for g, y, _, w in weights.cells} == pytest.approx(expected)
    assert weights.by_id["train/3"] == pytest.approx(2.0) and weights.by_id.mean() == pytest.approx(1.0)
    weighted = TRAIN.assign(w=weights.by_id.loc[TRAIN["id"]].to_numpy(), female=TRAIN["label"] == "F")
    share = weighted.groupby("race").apply(lambda rows: (rows.w * rows.female).sum() / rows.w.sum())
    assert share.to_numpy() == pytest.approx([0.5, 0.5])  # label independent of group once weighted
    assert weights.record()["partition"] == "race" and len(weights.record()["cells"]) == 4


def test_joint_groups_of_several_attributes() -> None:
    weights = reweighing(TRAIN, ["race", "age"], "backbones.x.reweighing")
    assert weights.partition == "race × age"
    cells = {(g, y): (n, w) for g, y, n, w in weights.cells}
    assert set(cells) == {("A × 1", "F"), ("A × 2", "F"), ("A × 2", "M"), ("B × 1", "F"), ("B × 1", "M"),
                          ("B × 2", "F"), ("B × 2", "M")}  # A × 1 has no M: no cell, no weight
    assert cells["B × 1", "M"] == (2, pytest.approx((3 / 10) * (5 / 10) / (2 / 10)))


def test_an_attribute_the_dataset_lacks_names_the_key() -> None:
    with pytest.raises(FairvisionError, match=r"backbones.small_cnn\+reweighing.reweighing.*skin_tone not among "
                                              r"race, age"):
        reweighing(TRAIN, ["skin_tone"], "backbones.small_cnn+reweighing.reweighing")


def test_the_loss_uses_the_weights() -> None:
    """With every weight 0 there is no gradient, so Adam leaves the weights where they were."""
    keras.utils.set_random_seed(0)
    model = build_backbone("small_cnn", 16, 2, {"width": 2})
    before = [v.numpy().copy() for v in model.trainable_variables]
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    labels = np.array([0, 1] * 4)
    for weight, moved in ((0.0, False), (1.0, True)):
        data = tf.data.Dataset.from_tensor_slices((images, labels, np.full(8, weight, "float32"))).batch(4)
        val = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
        fit(model, data, val, epochs=1, learning_rate=0.01, strategy=tf.distribute.get_strategy(), label="tiny")
        after = [v.numpy() for v in model.trainable_variables]
        assert any(not np.array_equal(a, b) for a, b in zip(before, after)) is moved


def test_a_reweighing_variant_trains_and_records_its_weights(tiny_prepared: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "project"
    shutil.copytree(tiny_prepared, folder)
    monkeypatch.chdir(folder)
    assert main(["train", "small_cnn+reweighing", "--no-checkpoint"]) == 0
    model = folder / "models/synthetic/small_cnn+reweighing/seed-0"
    summary = json.loads((model / "train.json").read_text(encoding="utf-8"))
    assert summary["reweighing"]["partition"] == "race" and summary["options"]["reweighing"] == ["race"]
    assert {cell["group"] for cell in summary["reweighing"]["cells"]} >= {"White", "Latino_Hispanic"}
    history = pd.read_csv(folder / "training/synthetic/small_cnn+reweighing/seed-0/history.csv")
    assert history["loss"].notna().all() and len(history) == summary["epochs_run"]


def test_training_logs_its_epochs_and_no_tensorflow_error_lines(tiny_prepared: Path, tmp_path: Path) -> None:
    """As `make demo` runs it: TensorFlow's level left to the CLI. No "E0000"/"W0000" line (the CUDA probe's
    chatter held back, no "NodeDef mentions" from the weighted input), and one progress line per epoch."""
    folder = tmp_path / "project"
    shutil.copytree(tiny_prepared, folder)
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "fairvision.commands.train", "small_cnn+reweighing",
                             "--no-checkpoint"], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith(("E0000", "W0000"))], result.stderr[-3000:]
    epochs = [line for line in lines if line.startswith("fairvision: small_cnn+reweighing epoch ")]
    assert len(epochs) == TINY_EPOCHS and "val_accuracy" in epochs[-1]
