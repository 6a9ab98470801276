"""Compile the pipeline to one YAML file: what a Kubeflow Pipelines UI or client uploads."""

from __future__ import annotations

import os

from fairvision.files import atomic_path
from fairvision.pipeline.definition import build


def compile_pipeline(params_path: str | os.PathLike[str], image: str, workspace_size: str,
                     out: str | os.PathLike[str]) -> None:
    """Write the pipeline for ``params_path`` on ``image``, with a workspace volume of ``workspace_size`` per run,
    to ``out`` (atomically; nothing written on an error)."""
    from kfp import compiler

    pipeline = build(params_path, image, workspace_size=workspace_size)
    with atomic_path(out) as tmp:
        compiler.Compiler().compile(pipeline, str(tmp.with_suffix(".yaml")))
        tmp.with_suffix(".yaml").replace(tmp)
