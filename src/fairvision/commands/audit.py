"""`fairvision audit B`: per-group metrics with intervals and verdicts."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset = dataset_named(params, args.dataset)
    backbone_options(params, args.backbone)
    from fairvision.audit.stage import audit

    folder = layout.audit_dir(dataset.name, args.backbone)
    paths = {seed: layout.predictions_path(dataset.name, args.backbone, seed) for seed in params.train.seeds}
    audit(args.backbone, paths,
          layout.prepared_dir(dataset.name), dataset, params.audit, folder / "fairness.json",
          groups_dir=layout.groups_dir(dataset.name, args.backbone))


COMMAND = Command(
    "audit", "per-group metrics with intervals and verdicts (AIF360)",
    "Audit audits/<D>/<B>/predictions/seed-<S>.parquet, for every seed of `train.seeds`,\n"
    "for every protected attribute and configured\n"
    "intersection: each group's rates, and 14 AIF360 metrics against the reference group\n"
    "and against the rest (statistical parity, disparate impact, equal opportunity, odds,\n"
    "error/FPR/FNR rates, ...), with group-stratified bootstrap intervals made simultaneous\n"
    "per table and a verdict each: pass (interval within params.yaml `audit.tolerance`),\n"
    "fail (wholly beyond) or inconclusive. Groups below `audit.min_group_size` are\n"
    "reported as insufficient data. Point values are cross-checked against AIF360. With\n"
    "several seeds, the seeds are audited as one training procedure: mean counts, intervals\n"
    "that resample seeds and images, and how many seeds fail each comparison on their own.\n"
    "Writes audits/<D>/<B>/fairness.json and headline.json (DVC metrics), and groups/<D>/<B>/.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
