"""The console script as a user meets it: help for every stage, clean errors, no tracebacks."""

from __future__ import annotations

import os
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
    "evaluate": "predictions/seed-<S>.parquet",
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
    assert result.returncode == 1
    assert "dataset 'pets' is not in params.yaml `datasets` (faces, synthetic)" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == [tmp_path / "params.yaml"]


@pytest.mark.parametrize(("command", "hint"), [
    (["train", "small_cnn"], "data/prepared/synthetic/manifest.parquet: not found; run `fairvision prepare` first"),
    (["evaluate", "small_cnn"],
     "models/synthetic/small_cnn/seed-0/saved_model.pb: not found; run `fairvision train small_cnn --seed 0` first"),
    (["audit", "small_cnn"], "predictions/seed-0.parquet: not found; run `fairvision evaluate small_cnn` first"),
])
def test_stage_before_its_inputs_exist_says_what_to_run(tmp_path: Path, command: list[str], hint: str) -> None:
    result = fairvision(*command, "--params", str(ROOT / "params.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    assert hint in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


LIGHT = ("import sys; from fairvision.cli import main; status = main(sys.argv[1:]); "
         "print(sorted(m for m in ('tensorflow', 'aif360', 'pandas', 'keras') if m in sys.modules)); sys.exit(status)")


@pytest.mark.parametrize(("command", "message"), [
    (["explain", "nosuch"], "backbone 'nosuch' is not in params.yaml `backbones`"),
    (["train", "nosuch"], "backbone 'nosuch' is not in params.yaml `backbones`"),
    (["train", "small_cnn", "--no-checkpoint", "--checkpoint-dir", "shared"],
     "--no-checkpoint keeps no state and --checkpoint-dir says where to keep it: give one"),
    (["audit", "small_cnn", "--dataset", "nosuch"], "dataset 'nosuch' is not in params.yaml `datasets`"),
    (["serve", "nosuch"], "nosuch: not a model folder (no saved_model.pb)"),
    (["serve", "models", "--intra-op-threads", "0"], "--intra-op-threads must be at least 1; got 0"),
])
def test_bad_arguments_are_answered_before_any_heavy_library_loads(command: list[str], message: str) -> None:
    """What makes `fairvision explain nosuch` answer in well under a second: nothing heavy is imported first."""
    result = subprocess.run([sys.executable, "-c", LIGHT, *command], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_unknown_explainer_is_named_before_any_heavy_library_loads(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["explain"]["methods"] = ["gradcam", "shap"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", LIGHT, "explain", "small_cnn", "--params",
                             str(tmp_path / "params.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "unknown explainer 'shap' in `explain.methods`; known: gradcam, " \
        "integrated_gradients, lime" in result.stderr, result.stderr
    assert result.stdout.strip() == "[]"


def test_serve_sets_tensorflows_thread_pools_from_its_flags() -> None:
    result = fairvision("serve", "--help")
    assert "--intra-op-threads" in result.stdout and "--inter-op-threads" in result.stdout
    script = ("from fairvision.serve.options import ServeOptions; from fairvision.serve.server import _set_threads; "
              "_set_threads(ServeOptions(name='m', version=1, max_batch_size=1, batch_timeout_ms=0, "
              "max_body_bytes=2048, max_image_pixels=10, intra_op_threads=1, inter_op_threads=3)); "
              "import tensorflow as tf; print(tf.config.threading.get_intra_op_parallelism_threads(), "
              "tf.config.threading.get_inter_op_parallelism_threads())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.stdout.split() == ["1", "3"], result.stderr[-2000:]


def test_each_stage_runs_alone_as_dvc_runs_it(tmp_path: Path) -> None:
    """`python -m fairvision.commands.<stage>` is the same command as `fairvision <stage>`: same help, same errors."""
    result = subprocess.run([sys.executable, "-m", "fairvision.commands.audit", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: fairvision audit")
    assert "fairness.json" in result.stdout and "--params" in result.stdout
    result = subprocess.run([sys.executable, "-m", "fairvision.commands.train", "nosuch", "--params",
                             str(ROOT / "params.yaml")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "backbone 'nosuch' is not in params.yaml `backbones`" in result.stderr
