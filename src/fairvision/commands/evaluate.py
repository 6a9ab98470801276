"""`fairvision evaluate B`: predict the test split with a trained backbone."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, chosen_seeds, dataset_named, start_tensorflow
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name")
    parser.add_argument("--seed", type=int, metavar="S",
                        help="evaluate this seed's model only (default: every seed of params.yaml `train.seeds`)")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset = dataset_named(params, args.dataset).name
    backbone_options(params, args.backbone)
    seeds = chosen_seeds(params, args.seed)
    start_tensorflow()  # only once the arguments are known to be good
    from fairvision.models.predict import evaluate

    for seed in seeds:
        evaluate(layout.model_dir(dataset, args.backbone, seed), layout.prepared_dir(dataset),
                 params.evaluate.batch_size, layout.predictions_path(dataset, args.backbone, seed))


COMMAND = Command(
    "evaluate", "predict the test split with a trained backbone",
    "Run models/<D>/<B>/seed-<S>'s exported signature over dataset D's test shards, for each\n"
    "seed of `train.seeds` (or --seed), and write audits/<D>/<B>/predictions/seed-<S>.parquet:\n"
    "id, label, pred, prob_<class> per class, and the protected attributes.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
