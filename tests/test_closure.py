"""A stage's code: the closure of its command module, which keys training checkpoints (and dvc.yaml's deps).

A run killed before a code fix must not resume the weights the old code trained while DVC records the new code's
hash, so the checkpoint key moves with any file the train stage runs, and with no other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fairvision import closure
from fairvision.models import train
from fairvision.params import load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the fairvision sources to edit."""
    copy = tmp_path / "fairvision"
    shutil.copytree(ROOT / "src" / "fairvision", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_digest_moves_with_the_stages_code_and_only_with_it(package: Path) -> None:
    before = closure.code_digest(train.CODE, package)
    assert closure.code_digest(train.CODE, package) == before
    (package / "cli.py").write_text("# the shared CLI: no stage runs it\n", encoding="utf-8")
    (package / "report" / "render.py").write_text("# another stage's code\n", encoding="utf-8")
    assert closure.code_digest(train.CODE, package) == before
    deep = package / "models" / "input.py"  # imported by models/train.py, itself imported inside commands/train.py
    deep.write_text(deep.read_text(encoding="utf-8") + "\n# a fix\n", encoding="utf-8")
    assert closure.code_digest(train.CODE, package) != before


def test_the_closure_holds_lazy_imports_and_the_package_root(package: Path) -> None:
    files = {path.relative_to(package).as_posix() for path in closure.closure([train.CODE], package)}
    assert {"__init__.py", "commands/train.py", "models/train.py", "models/checkpoint.py", "closure.py"} <= files
    assert "cli.py" not in files and not any(name.startswith("report/") for name in files)


def test_a_checkpoint_of_other_code_is_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key a checkpoint is saved and resumed under changes with the code digest, all else equal."""
    manifest = tmp_path / "manifest.parquet"
    manifest.write_bytes(b"rows")
    params = load_params(ROOT / "params.yaml").train
    keys = []
    for code in ("old code", "new code", "old code"):
        monkeypatch.setattr(train, "code_digest", lambda module, code=code: f"{module}: {code}")
        keys.append(train.checkpoint_key("small_cnn", {"width": 16}, params, 0, ["a", "b"], manifest))
    assert keys[0] != keys[1] and keys[0] == keys[2]
