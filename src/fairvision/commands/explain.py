"""`fairvision explain B`: where the model looks, per group."""

from __future__ import annotations

import argparse
import os
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named, start_tensorflow
from fairvision.params import Params
from fairvision.references import REFERENCES_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset = dataset_named(params, args.dataset)
    backbone_options(params, args.backbone)
    from fairvision.explain.methods import require_explainers  # the registry (numpy only), before TensorFlow

    require_explainers(params.explain.methods)
    os.environ.setdefault("TQDM_DISABLE", "1")  # lime's per-image bar has no switch; tqdm reads this when imported
    start_tensorflow()  # only once the arguments are known to be good
    from fairvision.explain.stage import explain

    seed = params.train.seeds[0]  # the served model: what a user of the explanations is shown
    explain(args.backbone, layout.model_dir(dataset.name, args.backbone, seed), layout.prepared_dir(dataset.name),
            layout.predictions_path(dataset.name, args.backbone, seed),
            layout.audit_dir(dataset.name, args.backbone) / REFERENCES_FILE, dataset, params.explain,
            layout.explanations_dir(dataset.name, args.backbone))


COMMAND = Command(
    "explain", "where the model looks, per group: saliency maps, disparity, faithfulness",
    "Explain models/<D>/<B>/seed-<S>, S the first of `train.seeds` (through the endpoints its\n"
    "export adds beside serving_default) on a\n"
    "seeded sample of the test split: params.yaml `explain.images_per_group` images per group of\n"
    "each protected attribute, half correctly predicted where possible, each explained with\n"
    "Grad-CAM, integrated gradients and AIX360's LIME (`explain.methods`). Writes\n"
    "audits/<D>/<B>/explanations/: explanations.json (per method and group: the disparity of its\n"
    "mean map from the audit's reference group, with a bootstrap interval and a permutation\n"
    "test; per method: deletion and insertion AUCs against a random map) and PNGs of each\n"
    "group's mean maps (all, correct, incorrect) and of the sampled images' overlays.\n"
    "Reads that seed's audits/<D>/<B>/predictions/seed-<S>.parquet and the audit's\n"
    "references.json: run evaluate and audit first.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
