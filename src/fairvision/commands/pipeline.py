"""`fairvision pipeline compile|run`: the stages as a Kubeflow Pipelines (KFP v2) pipeline."""

from __future__ import annotations

import argparse
import logging
import sys

from fairvision.command import Command
from fairvision.errors import FairvisionError
from fairvision.params import Params

DEFAULT_PIPELINE = "k8s/pipeline.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("compile", "run"),
                        help="compile: write the pipeline's YAML; run: run it (--local: on this machine)")
    parser.add_argument("--out", default=DEFAULT_PIPELINE, help="compile: the YAML file (default: %(default)s)")
    parser.add_argument("--image", help="compile: the image every step runs in (default: params.yaml "
                                        "`kubernetes.image`; the workspace volume's size is `kubernetes.workspace`, and runs keep "
                                        "their artifacts under `kubernetes.pipeline_root`)")
    parser.add_argument("--local", action="store_true",
                        help="run: every step as a subprocess here, with kfp.local (the only runner here; on a "
                             "cluster, upload the compiled YAML)")
    parser.add_argument("--workspace", default=".",
                        help="run --local: the folder the stages read and write, laid out as the project "
                             "(default: %(default)s, so a run writes what `dvc repro` writes)")


def run(params: Params, args: argparse.Namespace) -> None:
    if args.action == "compile":
        from fairvision.pipeline.compile import compile_pipeline

        from fairvision.pipeline.k8s_params import load_kubernetes

        compile_pipeline(args.params, load_kubernetes(args.params), args.out, args.image)
        logging.getLogger("fairvision").info("pipeline: wrote %s", args.out)
        return
    if not args.local:
        raise FairvisionError("`fairvision pipeline run` runs only --local here; on Kubeflow, upload "
                              f"{DEFAULT_PIPELINE} (written by `fairvision pipeline compile`) and start a run there "
                              "(README: Running on Kubernetes)")
    from fairvision.pipeline.local import run_local

    run_local(args.params, args.workspace)


COMMAND = Command(
    "pipeline", "the stages as a Kubeflow pipeline: compile it, or run it locally",
    "compile: write k8s/pipeline.yaml, a KFP v2 pipeline with one lightweight component per\n"
    "stage (prepare, train, evaluate, audit, discover, explain, report) for every dataset,\n"
    "backbone and seed of params.yaml, each calling the command `dvc repro` runs, in a shared KFP\n"
    "workspace volume laid out as the project. Its `params` input defaults to params.yaml;\n"
    "the first step validates it. Its `training` input says where each seed trains: pod\n"
    "(the default: in its step's pod) or job (a TFJob / TrainJob, params.yaml\n"
    "`kubernetes.train`, on the run's workspace; `job_timeout` seconds at most).\n"
    "Outputs are typed artifacts: prepared data (Dataset), models (Model), each audit's\n"
    "headline (Metrics), the comparison page (HTML) and a summary (Markdown).\n\n"
    "run --local: run that pipeline here with kfp.local, every step a subprocess, in\n"
    "--workspace (default: this folder), so it writes the files `dvc repro` writes.",
    add_arguments, run, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
