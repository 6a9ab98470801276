"""The `fairvision` command: one sub-command per pipeline stage, thin by design.

Each sub-command is a module of ``fairvision.commands`` (its arguments, help and the stage
function it calls, which DVC and Kubeflow call too); this module only gathers them under one
console script. DVC runs each stage's module alone, so editing this one reruns no stage.
Heavy libraries are imported only once a stage runs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from fairvision import __version__
from fairvision.command import Parser, execute
from fairvision.commands import (audit, check, discover, evaluate, explain, k8s, pipeline, prepare, publish,
                                 publish_model, report, serve, synth, train)

DESCRIPTION = """\
Reproducible fairness audits of image classifiers.

The pipeline (run it all with `dvc repro`; each stage is also a sub-command here). Every backbone
B in params.yaml `backbones` is trained (once per seed S of `train.seeds`) and audited on every
dataset D in `datasets`; with one dataset, --dataset may be left out.
  synth       -> data/raw/synthetic/        FairFace-format synthetic dataset with a planted bias
  prepare     -> data/prepared/<D>/         manifest.parquet, shards/*.tfrecord, datasheet.json, rejected.csv
  train B     -> models/<D>/<B>/seed-<S>/   SavedModel (bytes in, probabilities out), labels.txt, train.json
                 training/<D>/<B>/seed-<S>/history.csv, timings/<D>/<B>/seed-<S>.json   per-epoch metrics; speed
  evaluate B  -> audits/<D>/<B>/predictions/seed-<S>.parquet
  audit B     -> audits/<D>/<B>/fairness.json   AIF360 metrics per group, bootstrap intervals, verdicts (all seeds)
                 audits/<D>/<B>/headline.json, groups/<D>/<B>/   `dvc exp show` metrics; per-group bars
  discover B  -> audits/<D>/<B>/cohorts.json    cohorts nobody configured that the model fails (FDR-controlled)
  explain B   -> audits/<D>/<B>/explanations/   Grad-CAM, integrated gradients, LIME per group; disparity, faithfulness
  report      -> reports/<D>/               index.html, <B>.html, <B>.card.json, badge.svg, <B>.badge.svg

After the pipeline, `fairvision check --baseline REV` fails CI when fairness regressed, `fairvision publish DEST`
adds the reports as a run to a static site with history and trend pages (a folder or s3://bucket/prefix), and
`fairvision serve models/<D>/<B>/seed-<S>` serves a trained model over TF Serving's and KServe's REST protocols;
`fairvision publish-model B` puts it where TF Serving and KServe load it (the next numbered version).
`fairvision pipeline compile` writes the same stages as a Kubeflow pipeline (k8s/pipeline.yaml); `fairvision
pipeline run --local` runs that pipeline here, and `fairvision k8s` writes the training jobs and KServe
InferenceServices beside it (k8s/*.yaml). Every knob lives in params.yaml (see its comments)."""

# In the order `fairvision --help` lists them: the pipeline's stages, then the gate, the site, the server and Kubeflow.
COMMANDS = (synth.COMMAND, prepare.COMMAND, train.COMMAND, evaluate.COMMAND, audit.COMMAND, discover.COMMAND,
            explain.COMMAND, report.COMMAND, check.COMMAND, publish.COMMAND, serve.COMMAND, publish_model.COMMAND,
            pipeline.COMMAND, k8s.COMMAND)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fairvision", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fairvision {__version__}")
    commands = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.configure(commands.add_parser(command.name, help=command.help, description=command.description,
                                              formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    return execute(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
