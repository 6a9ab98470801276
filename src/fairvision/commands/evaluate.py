"""`fairvision evaluate B`: predict the test split with a trained backbone."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named, start_tensorflow
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset = dataset_named(params, args.dataset).name
    backbone_options(params, args.backbone)
    start_tensorflow()  # only once the arguments are known to be good
    from fairvision.models.predict import evaluate

    evaluate(layout.model_dir(dataset, args.backbone), layout.prepared_dir(dataset), params.evaluate.batch_size,
             layout.audit_dir(dataset, args.backbone) / "predictions.parquet")


COMMAND = Command(
    "evaluate", "predict the test split with a trained backbone",
    "Run models/<D>/<B>'s exported signature over dataset D's test shards and write\n"
    "audits/<D>/<B>/predictions.parquet: id, label, pred, prob_<class> per class, and the\n"
    "protected attributes.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
