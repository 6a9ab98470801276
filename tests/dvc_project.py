"""A tiny copy of the project in a temporary folder, for tests that run the real `dvc` on the real dvc.yaml.

It holds dvc.yaml, .dvcignore, a small params.yaml and a copy of src/ (the stages' code deps;
the stages themselves run the installed fairvision), in a fresh git repository with DVC
initialised and everything committed. The pipeline is small enough to reproduce in about a
minute: 500 synthetic images of 16 px, one small_cnn backbone, one epoch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "synth": {"n_train": 300, "n_val": 200, "image_size": 16},
    "train": {"image_size": 16, "batch_size": 32, "epochs": 1},
    "backbones": {"small_cnn": {"width": 4}},
    "evaluate": {"batch_size": 128},
    "audit": {"min_group_size": 5, "bootstrap": {"resamples": 50}},
    "explain": {"images_per_group": 2, "lime": {"images_per_group": 1, "samples": 20},
                "integrated_gradients": {"steps": 4}, "bootstrap": {"resamples": 20},
                "faithfulness": {"images_per_group": 1, "steps": 2}},
}
# The stages' output folders; in TIMED ones, wall-clock facts of a run (timings, the report's speed figures) that
# differ between two runs of the same models.
OUTPUT_FOLDERS = ("data", "models", "training", "timings", "audits", "groups", "reports")
TIMED = ("timings/", "reports/")


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, mappings recursively (``backbones`` is replaced whole)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            and key != "backbones" else value
    return out


@dataclasses.dataclass(frozen=True)
class Project:
    path: Path

    def run(self, *command: str, check: bool = True, timeout: int = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the project with the venv first on PATH (the stages call `fairvision`); ``env`` adds to
        the environment."""
        added = env or {}
        env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                            "DVC_NO_ANALYTICS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "GIT_AUTHOR_NAME": "t",
                            "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"} | added
        result = subprocess.run(command, cwd=self.path, env=env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        return result

    def dvc(self, *args: str, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "dvc", *args, check=check, env=env)

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / "params.yaml").read_text(encoding="utf-8"))

    def write_params(self, params: dict[str, Any]) -> None:
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False),
                                               encoding="utf-8")

    def outputs(self) -> list[str]:
        """Every file the stages wrote (relative paths, sorted): DVC's own .gitignore files left out."""
        return sorted(p.relative_to(self.path).as_posix() for top in OUTPUT_FOLDERS
                      for p in (self.path / top).rglob("*") if p.is_file() and p.name != ".gitignore")

    def changed_stages(self) -> set[str]:
        """The stages `dvc status` reports as changed (deps, params, outs or command)."""
        return set(json.loads(self.dvc("status", "--json").stdout or "{}"))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


def copy_project(template: Project, path: Path) -> Project:
    """A copy of ``template`` (git history, DVC cache and outputs included) at ``path``: a reproduced
    project for the price of a file copy; DVC rehashes the copied files once (new inodes)."""
    shutil.copytree(template.path, path, symlinks=True)
    return Project(path)


def make_project(path: Path, changes: dict[str, Any] | None = None) -> Project:
    """Create the tiny project at ``path`` (git + DVC initialised, first commit made); nothing reproduced yet."""
    path.mkdir(parents=True)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, path / name)
    shutil.copytree(ROOT / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # as the project's own .gitignore: what a killed stage leaves (temporaries, fairvision.files.TEMP_SUFFIX, and
    # training checkpoints to resume from) is never committed
    (path / ".gitignore").write_text("__pycache__/\n*.egg-info/\n*.fairvision-tmp\n/.fairvision/\n")
    project = Project(path)
    project.write_params(merge(merge(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")), TINY),
                               changes or {}))
    project.run("git", "init", "-q")
    project.dvc("init", "-q")
    project.dvc("config", "core.autostage", "true")
    project.commit("tiny fairvision project")
    return project
