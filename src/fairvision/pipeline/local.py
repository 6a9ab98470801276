"""Run the pipeline on this machine with `kfp.local`: every step a subprocess in this Python environment.

The workspace is a folder given here (the project, by default), so a local run writes the files `dvc repro`
writes, where it writes them; KFP's own artifacts (copies, for lineage) go under ``ARTIFACTS`` in it. Nothing
is cached: every step runs. Kubernetes settings (resources, the workspace volume) do not apply locally.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fairvision.errors import FairvisionError
from fairvision.pipeline.definition import build

ARTIFACTS = Path(".fairvision/kfp")  # under the workspace: KFP's pipeline root for a local run
LOCAL_IMAGE = "python"  # not pulled by a local run; named so that kfp.local does not warn of a non-Python image


def run_local(params_path: str | os.PathLike[str], workspace: str | os.PathLike[str]) -> None:
    """Run every step of the pipeline for ``params_path`` in ``workspace``; raises FairvisionError naming the step
    that failed (its own error is in the log above)."""
    from kfp import local

    folder = Path(workspace).resolve()
    pipeline = build(params_path, LOCAL_IMAGE, workspace=str(folder))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(folder / ARTIFACTS))
    logging.getLogger("fairvision").info("pipeline: running every step locally in %s", folder)
    try:
        pipeline()
    except RuntimeError as error:  # kfp.local's "Pipeline 'fairvision' finished with status FAILURE ..."
        raise FairvisionError(f"local pipeline run failed: {_plain(str(error))}") from None


def _plain(message: str) -> str:
    """kfp.local's message without its terminal colour codes."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", message)
