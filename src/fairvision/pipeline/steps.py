"""What each pipeline step does in its container: run one stage's command in the shared workspace, as `dvc repro`
runs it, then copy what the stage wrote into the step's typed KFP artifacts.

The workspace is one folder that every step sees (KFP's workspace volume on a cluster, the project folder in a
local run), laid out as the repository is (``layout``): the stages find each other's outputs where `dvc repro`
puts them, so no stage has a second implementation and a local run writes the very files `dvc repro` writes.
The artifacts are copies, for the Kubeflow UI and lineage; nothing downstream reads them.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from fairvision import layout
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path
from fairvision.params import Params, load_params

# The run's params.yaml inside the workspace: never the project's own file, whose comments a run must not lose.
PARAMS_FILE = Path(".fairvision/pipeline/params.yaml")
# The pipeline's `training` input: train each seed in its step's pod, or as a Kubeflow job beside it.
TRAINING = ("pod", "job")


class MetricsArtifact(Protocol):
    """What this module needs of a KFP ``Metrics`` output (kept free of a kfp import)."""

    def log_metric(self, metric: str, value: float) -> None: ...


def matrix_of(params: Params) -> dict[str, list[Any]]:
    """The runs a pipeline is compiled for: every dataset, backbone and training seed (as dvc.yaml's `matrix`)."""
    return {"datasets": list(params.datasets), "backbones": list(params.backbones),
            "seeds": list(params.train.seeds)}


def write_params(workspace: str, params: str, matrix: Mapping[str, list[Any]]) -> str:
    """Validate the run's parameters (``params``: params.yaml's values as YAML or JSON text) and write them into
    the workspace.

    Raises FairvisionError naming the bad key, or saying that the datasets, backbones or seeds differ from those
    the pipeline was compiled for (its steps are fixed at compile time, like dvc.yaml's expanded stages)."""
    destination = Path(workspace) / PARAMS_FILE
    with atomic_path(destination) as tmp:
        tmp.write_text(params, encoding="utf-8")
        found = matrix_of(load_params(tmp))
        for key, compiled in matrix.items():
            if found[key] != list(compiled):
                raise FairvisionError(f"pipeline parameter `params`: its {key} are {found[key]}, but the pipeline "
                                      f"was compiled for {list(compiled)}; compile it again from these params "
                                      "(`fairvision pipeline compile`)")
    return str(PARAMS_FILE)


def check_training(training: str) -> None:
    """Raise FairvisionError unless ``training`` (the run's `training` input) is one of ``TRAINING``."""
    if training not in TRAINING:
        raise FairvisionError(f"pipeline parameter `training` is {training!r}; expected one of {', '.join(TRAINING)}: "
                              "pod (train in the step's own pod) or job (submit params.yaml `kubernetes.train."
                              "operator`'s TFJob or TrainJob, with `kubernetes.train.workers` workers)")


def train_seed(workspace: str, params_file: str, dataset: str, backbone: str, seed: int, training: str, *,
               timeout: float, poll: float) -> None:
    """Train one seed in the workspace: in this process as `dvc repro` does (``training`` "pod"), or as the run's
    Kubeflow job, waiting at most ``timeout`` seconds and reading its status every ``poll`` ("job")."""
    check_training(training)
    if training == "job":
        from fairvision.pipeline.jobs import train_in_job

        train_in_job(workspace, params_file, dataset, backbone, seed, timeout=timeout, poll=poll)
    else:
        run_stage(workspace, params_file, "train", [backbone, "--dataset", dataset, "--seed", str(seed)])


def run_stage(workspace: str, params_file: str, stage: str, args: Sequence[str]) -> None:
    """Run `fairvision <stage> <args>` in ``workspace`` with the run's parameters (``params_file``, relative to
    it, as ``write_params`` returned it): the command module DVC runs."""
    os.chdir(workspace)
    command = importlib.import_module(f"fairvision.commands.{stage}").COMMAND
    status = command.main(["--params", params_file, *args])
    if status:
        raise RuntimeError(f"`fairvision {stage} {' '.join(args)}` failed with exit status {status} (its error is "
                           "above)")


def keep(workspace: str, relative: str | os.PathLike[str], artifact_path: str) -> None:
    """Copy a stage's output (a file or a folder of the workspace) to an artifact's path."""
    source, destination = Path(workspace) / relative, Path(artifact_path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, destination)


def log_headline(workspace: str, dataset: str, backbone: str, metrics: MetricsArtifact) -> None:
    """The audit's headline (audits/<D>/<B>/headline.json, DVC's metrics) as KFP metrics: what the UI lists."""
    headline = _headline(workspace, dataset, backbone)
    metrics.log_metric("accuracy", headline["accuracy"])
    for verdict, count in headline["comparisons"].items():
        metrics.log_metric(f"comparisons_{verdict}", count)
    for partition, gap in headline["worst_accuracy_gap"].items():
        if gap is not None:
            metrics.log_metric(f"worst_accuracy_gap_{partition}", gap)


def summary_markdown(workspace: str, dataset: str, backbones: Sequence[str]) -> str:
    """A few lines per backbone for the KFP UI: accuracy, verdict and comparison counts from each headline."""
    lines = [f"# fairvision: {dataset}", "", "| backbone | accuracy | verdict | fail | inconclusive | pass |",
             "|---|---:|---|---:|---:|---:|"]
    for backbone in backbones:
        headline = _headline(workspace, dataset, backbone)
        counts = headline["comparisons"]
        lines.append(f"| {backbone} | {headline['accuracy']:.3f} | {headline['verdict']} | {counts.get('fail', 0)} "
                     f"| {counts.get('inconclusive', 0)} | {counts.get('pass', 0)} |")
    lines += ["", f"The report pages are in the workspace under `{layout.report_dir(dataset)}/`."]
    return "\n".join(lines) + "\n"


def _headline(workspace: str, dataset: str, backbone: str) -> dict[str, Any]:
    """audits/<D>/<B>/headline.json in the workspace: the audit's accuracy, verdict and comparison counts."""
    return json.loads((Path(workspace) / layout.audit_dir(dataset, backbone) / "headline.json")
                      .read_text(encoding="utf-8"))
