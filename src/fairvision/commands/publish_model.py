"""`fairvision publish-model B`: a trained model as the next numbered version, where TF Serving and KServe load it."""

from __future__ import annotations

import argparse
import logging
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named
from fairvision.files import require
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name")
    parser.add_argument("--seed", type=int, metavar="S", help="the seed's model (default: the first of `train.seeds`, "
                                                              "the one explained and served)")
    parser.add_argument("--to", metavar="BASE", help="a folder or s3://bucket/prefix (default: params.yaml "
                                                     "`kubernetes.storage.prefix`/models/<D>/<B>, where the "
                                                     "InferenceService of `fairvision k8s` reads)")


def run(params: Params, args: argparse.Namespace) -> None:
    from fairvision.serve.versions import publish

    dataset = dataset_named(params, args.dataset).name
    backbone_options(params, args.backbone)
    seed = params.train.seeds[0] if args.seed is None else args.seed
    model = require(layout.model_dir(dataset, args.backbone, seed), f"train {args.backbone} --seed {seed}")
    base = args.to or _default_base(args.params, dataset, args.backbone)
    published = publish(model, base)
    logging.getLogger("fairvision").info(
        "publish-model: %s is version %d of %s%s", model, published.version, base,
        "" if published.written else " already (nothing written)")


def _default_base(params_file: str, dataset: str, backbone: str) -> str:
    from fairvision.pipeline.k8s_params import load_kubernetes

    return f"{load_kubernetes(params_file).storage.prefix}/models/{dataset}/{backbone}"


COMMAND = Command(
    "publish-model", "publish a trained model as TF Serving's next version",
    "Copy models/<D>/<B>/seed-<S>/ (the first seed's by default) to BASE/<N>/, the numbered\n"
    "version folder TF Serving and KServe's TensorFlow runtime load (they serve the highest\n"
    "number under BASE). N is one more than the newest version there; if the newest already\n"
    "holds this model byte for byte, nothing is written. BASE is a folder or\n"
    "s3://bucket/prefix (credentials and endpoint from the AWS environment); by default the\n"
    "storageUri of the InferenceService `fairvision k8s` writes.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
