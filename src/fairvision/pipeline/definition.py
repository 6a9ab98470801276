"""The KFP v2 pipeline: one lightweight component per stage, each calling its stage's command in the workspace.

The steps are laid out from params.yaml as dvc.yaml's `matrix` expands: synth, prepare per dataset, train and
evaluate per dataset, backbone and seed, audit, discover and explain per dataset and backbone, report per dataset. Each
component's body is a call into ``steps`` (KFP copies a lightweight component's source into its container, where
the image has fairvision installed). Steps depend on each other through the run's parameter file, the typed
artifacts they hand on, and ``after`` where a step reads several others' outputs (an audit reads every seed's
predictions; the report reads a dataset's every run), since `dsl.Collected` does not run under `kfp.local`.
"""

import dataclasses
import json
import os  # no `from __future__ import annotations`: KFP reads the components' annotations as types
from pathlib import Path
from typing import Any, Callable

import yaml
from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from fairvision.params import load_params
from fairvision.pipeline.steps import matrix_of

PIPELINE_NAME = "fairvision"


def validate(workspace: str, params: str, matrix: dict, training: str) -> str:
    """Validate the run's parameters (params.yaml's values, as JSON or YAML text, and where it trains) and write
    them into the workspace; the file every later step reads."""
    from fairvision.pipeline.steps import check_training, write_params

    check_training(training)
    return write_params(workspace, params, matrix)


def synth(workspace: str, params_file: str) -> None:
    """The built-in synthetic dataset (data/raw/synthetic), as `dvc repro` makes it."""
    from fairvision.pipeline.steps import run_stage

    run_stage(workspace, params_file, "synth", [])


def prepare(workspace: str, params_file: str, dataset: str, prepared: Output[Dataset]) -> None:
    """Validate a dataset; its manifest, shards and datasheet."""
    from fairvision import layout
    from fairvision.pipeline.steps import keep, run_stage

    run_stage(workspace, params_file, "prepare", ["--dataset", dataset])
    keep(workspace, layout.prepared_dir(dataset), prepared.path)


def train(workspace: str, params_file: str, dataset: str, backbone: str, seed: int, training: str,
          prepared: Input[Dataset], model: Output[Model], job_timeout: float = 86400.0, job_poll: float = 30.0) -> None:
    """Train one seed of one backbone, in this step's pod or as a Kubeflow job (``training``); its SavedModel."""
    from fairvision import layout
    from fairvision.pipeline.steps import keep, train_seed

    train_seed(workspace, params_file, dataset, backbone, seed, training, timeout=job_timeout, poll=job_poll)
    keep(workspace, layout.model_dir(dataset, backbone, seed), model.path)
    model.metadata.update({"dataset": dataset, "backbone": backbone, "seed": seed})


def evaluate(workspace: str, params_file: str, dataset: str, backbone: str, seed: int, model: Input[Model],
             predictions: Output[Dataset]) -> None:
    """One seed's predictions on the test split."""
    from fairvision import layout
    from fairvision.pipeline.steps import keep, run_stage

    run_stage(workspace, params_file, "evaluate", [backbone, "--dataset", dataset, "--seed", str(seed)])
    keep(workspace, layout.predictions_path(dataset, backbone, seed), predictions.path)


def audit(workspace: str, params_file: str, dataset: str, backbone: str, headline: Output[Metrics],
          fairness: Output[Artifact]) -> None:
    """Per-group metrics with intervals and verdicts over every seed; the headline as KFP metrics."""
    from fairvision import layout
    from fairvision.pipeline.steps import keep, log_headline, run_stage

    run_stage(workspace, params_file, "audit", [backbone, "--dataset", dataset])
    keep(workspace, layout.audit_dir(dataset, backbone) / "fairness.json", fairness.path)
    log_headline(workspace, dataset, backbone, headline)


def discover(workspace: str, params_file: str, dataset: str, backbone: str, model: Input[Model],
             cohorts: Output[Artifact], examples: Output[Artifact]) -> None:
    """Cohorts nobody configured (labelled and in the first seed's model's embeddings), found on one half of the test
    predictions and confirmed on the other."""
    from fairvision import layout
    from fairvision.pipeline.steps import keep, run_stage

    run_stage(workspace, params_file, "discover", [backbone, "--dataset", dataset])
    keep(workspace, layout.audit_dir(dataset, backbone) / "cohorts.json", cohorts.path)
    keep(workspace, layout.cohort_examples_dir(dataset, backbone), examples.path)


def explain(workspace: str, params_file: str, dataset: str, backbone: str, model: Input[Model],
            explanations: Output[Artifact]) -> None:
    """LIME and gradient saliency per group, for the first seed's model."""
    from fairvision import layout
    from fairvision.pipeline.steps import keep, run_stage

    run_stage(workspace, params_file, "explain", [backbone, "--dataset", dataset])
    keep(workspace, layout.explanations_dir(dataset, backbone), explanations.path)


def report(workspace: str, params_file: str, dataset: str, backbones: list, card: Output[HTML],
           summary: Output[Markdown]) -> None:
    """The report cards and the comparison page; the page as the UI's HTML, a summary as its Markdown."""
    from pathlib import Path

    from fairvision import layout
    from fairvision.pipeline.steps import keep, run_stage, summary_markdown

    run_stage(workspace, params_file, "report", ["--dataset", dataset])
    keep(workspace, layout.report_dir(dataset) / "index.html", card.path)
    Path(summary.path).write_text(summary_markdown(workspace, dataset, backbones), encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class S3Access:
    """How a cluster's prepare step reads an `s3://` dataset source: the keys of a Secret in the run's namespace
    as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and a non-AWS server's address as AWS_ENDPOINT_URL."""

    secret: str
    endpoint: str | None


def _read_s3(task: dsl.PipelineTask, s3: S3Access) -> None:
    from kfp import kubernetes

    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    # Optional: a run on the synthetic data, or on a public bucket, needs no Secret.
    kubernetes.use_secret_as_env(task, s3.secret, {key: key for key in keys}, optional=True)
    if s3.endpoint is not None:
        task.set_env_variable("AWS_ENDPOINT_URL", s3.endpoint)


STAGES: tuple[Callable[..., Any], ...] = (validate, synth, prepare, train, evaluate, audit, discover, explain, report)


def build(params_path: str | os.PathLike[str], image: str, workspace: str = dsl.WORKSPACE_PATH_PLACEHOLDER,
          workspace_size: str | None = None, workspace_access_mode: str | None = None,
          pipeline_root: str | None = None, s3: S3Access | None = None) -> Callable[..., Any]:
    """The pipeline for the datasets, backbones and seeds of the params.yaml at ``params_path`` (validated here,
    before anything runs), whose values are its `params` input's default; its components run on ``image``.

    ``workspace``: KFP's workspace volume (the default, on a cluster: ``workspace_size`` of it is claimed per
    run, mounted as ``workspace_access_mode``; required then) or a folder (a local run; `kfp.local` would delete a
    workspace of its own after it).
    ``pipeline_root``: where a cluster's runs keep their artifacts by default (None: the installation's).
    ``s3``: the Secret (and endpoint) the prepare steps read S3 dataset sources with, on a cluster."""
    params = load_params(params_path)
    # One line of JSON (which is YAML): a mapping input would turn integers into floats on its way through
    # protobuf, and KFP copies a default into a comment of the compiled file, where a newline would break it.
    defaults = json.dumps(yaml.safe_load(Path(params_path).read_text(encoding="utf-8")), ensure_ascii=False)
    ops = {stage.__name__: dsl.component(stage, base_image=image, install_kfp_package=False) for stage in STAGES}
    matrix = matrix_of(params)
    first_seed = params.train.seeds[0]
    volume = dsl.KubernetesWorkspaceConfig(pvcSpecPatch={"accessModes": [workspace_access_mode]})
    config = (dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size=workspace_size, kubernetes=volume))
              if workspace == dsl.WORKSPACE_PATH_PLACEHOLDER else None)

    @dsl.pipeline(name=PIPELINE_NAME, description="fairvision: prepare, train, evaluate, audit, explain and report "
                  "every backbone on every dataset of params.yaml, as `dvc repro` does",
                  pipeline_root=pipeline_root, pipeline_config=config)
    def fairvision(params: str = defaults, training: str = "pod", job_timeout: float = 86400.0) -> None:
        checked = ops["validate"](workspace=workspace, params=params, matrix=matrix, training=training)
        checked.set_display_name("params")
        shared = {"workspace": workspace, "params_file": checked.output}
        synthetic = ops["synth"](**shared).set_display_name("synth")
        for dataset in matrix["datasets"]:
            prepared = ops["prepare"](**shared, dataset=dataset).after(synthetic)
            prepared.set_display_name(f"prepare {dataset}")
            if s3 is not None:
                _read_s3(prepared, s3)
            finished = []
            for backbone in matrix["backbones"]:
                models, evaluated = {}, []
                for seed in matrix["seeds"]:
                    run = dict(shared, dataset=dataset, backbone=backbone, seed=seed)
                    models[seed] = ops["train"](**run, training=training, job_timeout=job_timeout,
                                                prepared=prepared.outputs["prepared"])
                    models[seed].set_display_name(f"train {dataset} {backbone} seed {seed}")
                    predicted = ops["evaluate"](**run, model=models[seed].outputs["model"])
                    evaluated.append(predicted.set_display_name(f"evaluate {dataset} {backbone} seed {seed}"))
                audited = ops["audit"](**shared, dataset=dataset, backbone=backbone).after(*evaluated)
                discovered = ops["discover"](**shared, dataset=dataset, backbone=backbone,
                                             model=models[first_seed].outputs["model"]).after(*evaluated)
                explained = ops["explain"](**shared, dataset=dataset, backbone=backbone,
                                           model=models[first_seed].outputs["model"]).after(audited)
                finished += [audited.set_display_name(f"audit {dataset} {backbone}"),
                             discovered.set_display_name(f"discover {dataset} {backbone}"),
                             explained.set_display_name(f"explain {dataset} {backbone}")]
            ops["report"](**shared, dataset=dataset, backbones=matrix["backbones"]).after(*finished) \
                .set_display_name(f"report {dataset}")

    return fairvision

