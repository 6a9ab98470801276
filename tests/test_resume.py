"""A training run killed mid-way and started again resumes from its last epoch and ends with the
same weights, byte for byte, as a run that was never interrupted (real processes, a real SIGKILL).

Only the SavedModel's graph file may differ: TensorFlow numbers the functions it traces per
process, and a resumed process traces fewer epochs' input functions before the export.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import TINY_EPOCHS as EPOCHS
from fairvision.commands.train import checkpoint_root
from fairvision.errors import FairvisionError

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = Path(".fairvision/checkpoints/synthetic/small_cnn/seed-0")


def train_command(out: str) -> list[str]:
    return [sys.executable, "-m", "fairvision.cli", "train", "small_cnn", "--out", out, "--history",
            f"{out}.history.csv", "--timing", f"{out}.timing.json"]


def run_train(folder: Path, out: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(train_command(out), cwd=folder, capture_output=True, text=True, timeout=600,
                            env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def kill_after_first_checkpoint(folder: Path, out: str) -> Path:
    """Start training, SIGKILL it as soon as its first checkpoint is written; the checkpoint's state.json."""
    process = subprocess.Popen(train_command(out), cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    state = folder / CHECKPOINT / "state.json"
    deadline = time.monotonic() + 300
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return state


def files(model: Path) -> dict[str, bytes]:
    return {str(p.relative_to(model)): p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def killed(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A copy of the prepared project whose training was killed after its first checkpoint, and that epoch.
    Tests copy it before resuming in it."""
    folder = tmp_path_factory.mktemp("killed") / "project"
    shutil.copytree(tiny_prepared, folder)
    state = kill_after_first_checkpoint(folder, "resumed")
    killed_after = json.loads(state.read_text(encoding="utf-8"))["epoch"]
    assert 1 <= killed_after < EPOCHS, "the run was not killed mid-training"
    assert not (folder / "resumed").exists()  # no half-written model
    return folder, killed_after


def test_a_killed_run_resumes_and_ends_with_the_same_model(tiny_prepared: Path, killed: tuple[Path, int],
                                                          tmp_path: Path) -> None:
    uninterrupted_folder = tmp_path / "uninterrupted"
    shutil.copytree(tiny_prepared, uninterrupted_folder)
    run_train(uninterrupted_folder, "uninterrupted")
    assert not (uninterrupted_folder / CHECKPOINT).exists()  # removed once the model is written

    template, killed_after = killed
    folder = tmp_path / "resumed"
    shutil.copytree(template, folder)
    result = run_train(folder, "resumed")
    assert f"resumed from {CHECKPOINT} after epoch {killed_after}" in result.stderr
    resumed, uninterrupted = files(folder / "resumed"), files(uninterrupted_folder / "uninterrupted")
    weights = ("variables/variables.data-00000-of-00001", "variables/variables.index", "train.json", "labels.txt")
    assert all(resumed[name] == uninterrupted[name] for name in weights)
    history = (folder / "resumed.history.csv").read_text(encoding="utf-8")
    assert history == (uninterrupted_folder / "uninterrupted.history.csv").read_text(encoding="utf-8")
    assert not (folder / CHECKPOINT).exists()


def test_a_checkpoint_of_other_parameters_is_not_resumed(killed: tuple[Path, int], tmp_path: Path) -> None:
    folder = tmp_path / "project"
    shutil.copytree(killed[0], folder)
    assert (folder / CHECKPOINT / "state.json").exists()
    params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))
    params["train"]["learning_rate"] = 0.002
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    result = run_train(folder, "second")
    assert "a checkpoint of another run" in result.stderr and "resumed from" not in result.stderr
    assert json.loads((folder / "second/train.json").read_text(encoding="utf-8"))["epochs_run"] == EPOCHS


@pytest.mark.parametrize(("flag", "environment", "root"), [
    (None, {}, ".fairvision/checkpoints"),
    (None, {"FAIRVISION_CHECKPOINT_DIR": "/var/fairvision/checkpoints"}, "/var/fairvision/checkpoints"),
    ("shared", {"FAIRVISION_CHECKPOINT_DIR": "/var/fairvision/checkpoints"}, "shared"),  # the flag wins
])
def test_the_checkpoint_folder_is_the_flag_else_the_environment_else_the_default(
    flag: str | None, environment: dict[str, str], root: str,
) -> None:
    assert checkpoint_root(flag, False, environment) == Path(root)
    assert checkpoint_root(None, True, environment) is None  # --no-checkpoint


@pytest.mark.parametrize(("flag", "environment", "message"), [
    (None, {"FAIRVISION_CHECKPOINT_DIR": ""}, "FAIRVISION_CHECKPOINT_DIR is empty: name a folder"),
    ("", {}, "--checkpoint-dir is empty: name a folder"),
    (None, {"FAIRVISION_CHECKPOINT_DIR": "{file}"}, "FAIRVISION_CHECKPOINT_DIR={file}: not a folder"),
    ("{file}", {}, "--checkpoint-dir={file}: not a folder"),
])
def test_a_bad_checkpoint_folder_is_named(tmp_path: Path, flag: str | None, environment: dict[str, str],
                                         message: str) -> None:
    file = tmp_path / "state"
    file.write_text("", encoding="utf-8")
    fill = {"file": str(file)}
    with pytest.raises(FairvisionError, match=message.format(**fill)):
        checkpoint_root(flag and flag.format(**fill), False, {k: v.format(**fill) for k, v in environment.items()})
