"""dvc.yaml declares exactly the code each stage runs: no missed reruns, no needless ones.

A stage runs its own command module (`python -m fairvision.commands.<stage>`), and with it
everything that module imports, however deep (imports inside functions included): the small
core (command, params schema, errors, files, layout, ...) and the stage's package. This test
recomputes that set from the source (``fairvision.closure``, which also keys training checkpoints
by the train stage's code) and compares it with the stage's `src/` deps
in dvc.yaml, and checks each stage's command is its own module's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fairvision.closure import closure

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
STAGES = ("synth", "prepare", "train", "evaluate", "audit", "discover", "explain", "report")
ENTRY = {stage: f"fairvision.commands.{stage}" for stage in STAGES}
DATA_FILES = {"report": {"src/fairvision/report/templates"}}  # read at run time, not imported


def expected(stage: str) -> set[str]:
    files = {"src/fairvision/__init__.py"} | {path.relative_to(ROOT).as_posix() for path in
                                              closure({ENTRY[stage]}, SRC / "fairvision")}
    return files | DATA_FILES.get(stage, set())


def definition(stage: str) -> dict:
    stage_definition = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]
    return stage_definition.get("do") or stage_definition


def declared(stage: str) -> set[str]:
    return {dep for dep in definition(stage)["deps"] if dep.startswith("src/")}


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_runs_its_own_command_module_not_the_shared_cli(stage: str) -> None:
    assert definition(stage)["cmd"].split()[:3] == ["python", "-m", ENTRY[stage]]
    assert "src/fairvision/cli.py" not in expected(stage)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_depends_on_exactly_the_code_it_runs(stage: str) -> None:
    want, have = expected(stage), declared(stage)
    want = {f for f in want if not (f.endswith("__init__.py") and f != "src/fairvision/__init__.py")}
    assert not want - have, f"dvc.yaml stage {stage} misses code it runs: {sorted(want - have)}"
    assert not have - want, f"dvc.yaml stage {stage} depends on code it never runs: {sorted(have - want)}"


def test_bytecode_caches_never_change_a_code_dependency() -> None:
    assert "__pycache__" in (ROOT / ".dvcignore").read_text(encoding="utf-8").split()
