"""Compile the pipeline to one YAML file: what a Kubeflow Pipelines UI or client uploads."""

from __future__ import annotations

import os

from fairvision.files import atomic_path
from fairvision.pipeline.definition import S3Access, build
from fairvision.pipeline.k8s import SECRET
from fairvision.pipeline.k8s_params import Kubernetes


def compile_pipeline(params_path: str | os.PathLike[str], kubernetes: Kubernetes, out: str | os.PathLike[str],
                     image: str | None = None) -> None:
    """Write the pipeline for ``params_path`` to ``out`` (atomically; nothing written on an error): its steps on
    ``image`` (default `kubernetes.image`), a workspace volume of `kubernetes.workspace` per run (mounted as
    `kubernetes.workspace_access_mode`), its artifacts under `kubernetes.pipeline_root`, its prepare steps given
    the S3 Secret of `fairvision k8s` (and `kubernetes.storage.endpoint`)."""
    from kfp import compiler

    pipeline = build(params_path, image or kubernetes.image, workspace_size=kubernetes.workspace,
                     workspace_access_mode=kubernetes.workspace_access_mode,
                     pipeline_root=kubernetes.pipeline_root,
                     s3=S3Access(secret=SECRET, endpoint=kubernetes.storage.endpoint))
    with atomic_path(out) as tmp:
        compiler.Compiler().compile(pipeline, str(tmp.with_suffix(".yaml")))
        tmp.with_suffix(".yaml").replace(tmp)
