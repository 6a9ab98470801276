"""No stage may write into or delete a user's raw data; switching datasets is a params.yaml change only.

DVC removes a stage's outputs before running it, so a `synth` stage whose output were
`${dataset.path}` would replace a user's FairFace folder with synthetic data. `synth` writes
only its own folder, and refuses to replace any folder it did not write.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from fairvision.cli import main
from fairvision.data.synthetic import MARKER

ROOT = Path(__file__).resolve().parents[1]


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synth_refuses_to_replace_a_folder_it_did_not_write(small_fairface: Path, capsys, monkeypatch) -> None:
    before = fingerprint(small_fairface)
    monkeypatch.chdir(ROOT)
    assert main(["synth", "--out", str(small_fairface)]) == 1
    assert f"{small_fairface}: exists and was not written by `fairvision synth`" in capsys.readouterr().err
    assert fingerprint(small_fairface) == before


def test_synth_replaces_its_own_output(tmp_path: Path, monkeypatch) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"].update(n_train=40, n_val=20, image_size=16)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert main(["synth"]) == 0 and main(["synth"]) == 0  # a rerun replaces what the first wrote
    assert (tmp_path / "data/raw/synthetic" / MARKER).is_file()


def test_switching_dataset_path_leaves_the_users_folder_untouched(small_fairface: Path, tmp_path: Path) -> None:
    """`dvc repro` with a dataset's path at the user's folder: prepare reads it, nothing writes it."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))  # code deps
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"] = {"mine": params["datasets"]["synthetic"]}
    params["datasets"]["mine"]["source"]["path"] = str(small_fairface)
    params["synth"].update(n_train=40, n_val=20, image_size=16)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    before = fingerprint(small_fairface)
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                        "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def run(*command: str) -> None:
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    run("git", "init", "-q")
    run(sys.executable, "-m", "dvc", "init", "-q")
    run(sys.executable, "-m", "dvc", "repro", "synth", "prepare@mine")
    assert fingerprint(small_fairface) == before
    assert (project / "data/prepared/mine/manifest.parquet").is_file()
    assert (project / "data/raw/synthetic" / MARKER).is_file()  # synth wrote only its own folder
