"""`fairvision train B`: train one backbone and export its SavedModel."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named, start_tensorflow
from fairvision.models.backbones import require_backbone
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name, e.g. small_cnn or mobilenet_v2")
    parser.add_argument("--out", help="model folder (default: models/<D>/<B>)")
    parser.add_argument("--history", help="per-epoch metrics CSV (default: training/<D>/<B>/history.csv)")
    parser.add_argument("--timing", help="wall time and images/s JSON (default: timings/<D>/<B>.json)")
    parser.add_argument("--no-checkpoint", action="store_true",
                        help="keep no per-epoch state (by default it is kept in .fairvision/checkpoints/<D>/<B>/ "
                             "while training, so a killed run started again resumes where it stopped)")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset, options = dataset_named(params, args.dataset).name, backbone_options(params, args.backbone)
    require_backbone(args.backbone)
    start_tensorflow()  # only once the arguments are known to be good
    from fairvision.models.train import train

    train(args.backbone, options, params.train, layout.prepared_dir(dataset),
          args.out or layout.model_dir(dataset, args.backbone),
          args.history or layout.history_path(dataset, args.backbone),
          args.timing or layout.timing_path(dataset, args.backbone),
          checkpoint_dir=None if args.no_checkpoint else layout.checkpoint_dir(dataset, args.backbone))


COMMAND = Command(
    "train", "train one backbone; export a SavedModel",
    "Train backbone B (a key of params.yaml `backbones`) on dataset D's prepared shards with\n"
    "a seeded custom loop, and write models/<D>/<B>/: a SavedModel whose serving_default\n"
    "signature takes encoded image bytes and returns probabilities and class names,\n"
    "labels.txt and train.json (all determined by the seed), plus\n"
    "training/<D>/<B>/history.csv (per-epoch loss and accuracy) and timings/<D>/<B>.json (wall\n"
    "time, images/s), kept outside the model so a retrain with identical weights changes\n"
    "nothing downstream. Runs on every local GPU (mixed precision), or on every worker\n"
    "of a Kubeflow TFJob (TF_CONFIG). A killed run started again resumes from its last\n"
    "finished epoch and ends with the same weights as an uninterrupted one.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
