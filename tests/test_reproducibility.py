"""Training is bit-identical for a seed (docs/reproducibility.md).

On one machine: two trainings with the same seed give the same weights and test probabilities,
bit for bit. Across machines, CPU training is reproducible only with the instruction set oneDNN
dispatches to and the size of TensorFlow's intra-op thread pool pinned; the second test checks
that, with both pinned, a process allowed on one CPU (a smaller machine, whose TensorFlow
defaults would differ) and other thread knobs changed still trains the same weights.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from fairvision.cli import main
from fairvision.data.shards import read_records, shard_paths
from fairvision.models.export import SIGNATURE
from fairvision.models.train import train
from fairvision.params import load_params

ROOT = Path(__file__).resolve().parents[1]


def _script():
    """scripts/reproducibility.py as a module: its worker trains in a fresh process with a given environment."""
    spec = importlib.util.spec_from_file_location("reproducibility", ROOT / "scripts" / "reproducibility.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reproducibility", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with params.yaml (small_cnn width 4, 16 px, 1 epoch) and synth + prepare run in it."""
    folder = tmp_path_factory.mktemp("reproducibility")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["synth"].update(n_train=200, n_val=60, image_size=16)
    params["train"].update(image_size=16, batch_size=32, epochs=1)
    params["backbones"] = {"small_cnn": {"width": 4}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["synth"]) == 0
        assert main(["prepare"]) == 0
    return folder


def _train_and_predict(folder: Path, out: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Train small_cnn with the project's `train`; the exported variables and the test split's probabilities."""
    script = _script()
    params = load_params(folder / "params.yaml")
    keras.backend.clear_session()  # the same layer (hence variable) names in both runs
    script.call_train(train, "small_cnn", {"width": 4}, params.train, folder / "data/prepared/synthetic",
                      out / "model", out / "records")
    loaded = tf.saved_model.load(str(out / "model"))
    weights = script.named_arrays(loaded.variables)
    images = np.concatenate([batch["image"].numpy() for batch in
                             read_records(shard_paths(folder / "data/prepared/synthetic/shards", "test")).batch(64)])
    probabilities = loaded.signatures[SIGNATURE](image_bytes=tf.constant(images))["probabilities"].numpy()
    return weights, probabilities


def test_the_same_seed_trains_bit_identical_weights_and_predictions(tiny: Path, tmp_path: Path) -> None:
    first_weights, first_probabilities = _train_and_predict(tiny, tmp_path / "first")
    second_weights, second_probabilities = _train_and_predict(tiny, tmp_path / "second")
    assert list(first_weights) == list(second_weights)
    different = [name for name in first_weights if not np.array_equal(first_weights[name], second_weights[name])]
    assert not different, f"variables differ between two runs with the same seed: {different}"
    assert first_probabilities.dtype == np.float32 and len(first_probabilities) > 0
    assert np.array_equal(first_probabilities, second_probabilities)


def test_pinned_isa_and_thread_pool_train_the_same_weights_on_fewer_cpus(tiny: Path, tmp_path: Path) -> None:
    """The recommended pins, in fresh processes: all CPUs vs one CPU with other thread knobs changed."""
    script = _script()
    pinned = dict(script.MODES["pinned"])
    runs = {
        "all CPUs": (pinned, None),
        "one CPU, inter-op 1, OMP 1": ({**pinned, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}, 1),
    }
    results = {  # one after the other: on 2 CPUs, two TensorFlow processes at once are no faster
        name: script.run_worker(tiny, ["small_cnn"], tmp_path / str(index), env, cpus=cpus, label=name)[
            "backbones"]["small_cnn"]
        for index, (name, (env, cpus)) in enumerate(runs.items())
    }
    weights = {name: result["weights_sha256"] for name, result in results.items()}
    probabilities = {name: result["probabilities_sha256"] for name, result in results.items()}
    assert len(set(weights.values())) == 1, weights
    assert len(set(probabilities.values())) == 1, probabilities
