"""The console script as a user meets it: help for every stage, clean errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "synth": "fairface_label_train.csv",
    "prepare": "manifest.parquet",
    "train": "SavedModel",
    "evaluate": "predictions.parquet",
    "audit": "fairness.json",
    "report": "index.html",
}


def fairvision(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fairvision.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_top_level_help_lists_every_stage() -> None:
    result = fairvision("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize(("command", "output"), COMMANDS.items())
def test_each_stage_explains_its_files(command: str, output: str) -> None:
    result = fairvision(command, "--help")
    assert result.returncode == 0
    assert output in result.stdout and "--params" in result.stdout


def test_bad_params_give_one_clear_line(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"]["n_train"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = fairvision("synth", cwd=tmp_path)
    assert result.returncode == 1
    assert "fairvision: error: params.yaml: `params.synth.n_train` must be an integer >= 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_unknown_backbone_lists_the_known_ones(tmp_path: Path) -> None:
    result = fairvision("train", "vgg99", "--params", str(ROOT / "params.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    assert "backbone 'vgg99' is not in params.yaml `backbones` (small_cnn, small_cnn+reweighing, mobilenet_v2)" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_several_datasets_need_dataset_named(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"]["faces"] = {"source": {"format": "image_folder", "path": "faces"}, "target": "label",
                                   "protected": [], "reference": {}, "intersections": []}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = fairvision("train", "small_cnn", cwd=tmp_path)
    assert result.returncode == 1
    assert "params.yaml `datasets` names 2 datasets (faces, synthetic): say which with --dataset" in result.stderr
    result = fairvision("prepare", "--dataset", "pets", cwd=tmp_path)
    assert result.returncode == 1 and "dataset 'pets' is not in params.yaml `datasets` (faces, synthetic)" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == [tmp_path / "params.yaml"]


@pytest.mark.parametrize(("command", "hint"), [
    (["train", "small_cnn"], "data/prepared/synthetic/manifest.parquet: not found; run `fairvision prepare` first"),
    (["evaluate", "small_cnn"], "models/synthetic/small_cnn/saved_model.pb: not found; run `fairvision train small_cnn` first"),
    (["audit", "small_cnn"], "predictions.parquet: not found; run `fairvision evaluate small_cnn` first"),
])
def test_stage_before_its_inputs_exist_says_what_to_run(tmp_path: Path, command: list[str], hint: str) -> None:
    result = fairvision(*command, "--params", str(ROOT / "params.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    assert hint in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
