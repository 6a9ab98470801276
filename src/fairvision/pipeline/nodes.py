"""What each node of the Elyra pipeline (elyra/fairvision.pipeline) runs: one stage's command module, once for
every run dvc.yaml's `foreach` / `matrix` expands from params.yaml, in the project folder.

The nodes are tiny scripts (elyra/<stage>.py) so that JupyterLab's pipeline editor shows one box per stage, as in
the seed article; each run is dvc.yaml's own command line (`python -m fairvision.commands.<stage> ...`), so there is
no second implementation and a local run writes the very files `dvc repro` writes. One process per run, as DVC
does: TensorFlow and Keras name functions and layers by per-process counts, so a second model trained in one
process is saved with other names, hence other bytes, than the same model trained alone.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from fairvision.errors import FairvisionError
from fairvision.params import load_params
from fairvision.pipeline.steps import matrix_of

# Where the stages work, when set: a folder holding params.yaml (on Kubeflow, a volume every node mounts).
PROJECT_VARIABLE = "FAIRVISION_PROJECT"
# Each stage's axes, in dvc.yaml's order: `foreach: ${datasets}` or the `matrix` of datasets, backbones, seeds.
AXES: dict[str, tuple[str, ...]] = {
    "synth": (), "prepare": ("datasets",), "train": ("datasets", "backbones", "seeds"),
    "evaluate": ("datasets", "backbones", "seeds"), "audit": ("datasets", "backbones"),
    "discover": ("datasets", "backbones"), "explain": ("datasets", "backbones"), "report": ("datasets",),
}
# How each axis appears in a stage's `cmd`, in this order.
_ARGUMENTS: tuple[tuple[str, Callable[[Any], list[str]]], ...] = (
    ("backbones", lambda backbone: [backbone]), ("datasets", lambda dataset: ["--dataset", dataset]),
    ("seeds", lambda seed: ["--seed", str(seed)]))


def project_root(script: str | os.PathLike[str]) -> Path:
    """The folder the stages run in: $FAIRVISION_PROJECT, else the node script's folder or its parent, whichever
    holds params.yaml.

    Elyra's local runner runs a script in its own folder, `elyra/` in a checkout, whose parent is the project. On
    Kubeflow, Elyra 4.1.1 unpacks and runs each script in the container's working directory (the image's
    /workspace): there the project is the script's folder, a volume mounted there (README "Elyra")."""
    if os.environ.get(PROJECT_VARIABLE):
        candidates = [Path(os.environ[PROJECT_VARIABLE])]
    else:
        folder = Path(script).resolve().parent
        candidates = [folder, folder.parent]
    for root in candidates:
        if (root / "params.yaml").is_file():
            return root
    raise FairvisionError(f"no params.yaml in {' or '.join(map(str, candidates))}: an Elyra node runs its stage in "
                          f"the folder holding it, its script's folder or that folder's parent, or ${PROJECT_VARIABLE}")


def stage_commands(stage: str, root: Path) -> list[list[str]]:
    """dvc.yaml's command line of each run of ``stage``, as it expands them from ``root``'s params.yaml, in its
    order."""
    if stage not in AXES:
        raise FairvisionError(f"no stage {stage!r} in an Elyra node (known: {', '.join(AXES)})")
    matrix = matrix_of(load_params(root / "params.yaml"))
    runs = [dict(zip(AXES[stage], values)) for values in itertools.product(*(matrix[axis] for axis in AXES[stage]))]
    return [["python", "-m", f"fairvision.commands.{stage}",
             *(argument for axis, form in _ARGUMENTS if axis in run for argument in form(run[axis]))] for run in runs]


def run_node(stage: str, script: str | os.PathLike[str]) -> int:
    """Run every expansion of ``stage`` in the project folder, as `dvc repro` would; the first failing run's exit
    status (its error is on stderr), else 0."""
    try:
        root = project_root(script)
        commands = stage_commands(stage, root)
    except FairvisionError as error:
        print(f"fairvision: error: {error}", file=sys.stderr)
        return 1
    for command in commands:
        print(shlex.join(command), flush=True)
        status = subprocess.run([sys.executable, *command[1:]], cwd=root).returncode
        if status:
            return status
    return 0
