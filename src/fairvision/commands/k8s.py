"""`fairvision k8s`: every Kubernetes manifest, generated from params.yaml into k8s/."""

from __future__ import annotations

import argparse
import logging
import sys

from fairvision.command import Command
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="k8s", help="output folder (default: %(default)s)")


def run(params: Params, args: argparse.Namespace) -> None:
    from fairvision.pipeline.k8s import manifests
    from fairvision.pipeline.k8s_files import write_manifests
    from fairvision.pipeline.k8s_params import load_kubernetes

    written = write_manifests(manifests(params, load_kubernetes(args.params), args.params), args.out)
    logging.getLogger("fairvision").info("k8s: %d manifests in %s/ (apply with `kubectl apply -k %s`)",
                                         len(written), args.out, args.out)


COMMAND = Command(
    "k8s", "write every Kubernetes manifest from params.yaml",
    "Write k8s/ from params.yaml `kubernetes` (namespace, image, S3 prefix, checkpoint volume,\n"
    "workers, resources), `datasets`, `backbones` and `train.seeds`:\n"
    "  namespace.yaml, serviceaccount.yaml, pvc-checkpoints.yaml\n"
    "  secret-s3.yaml            S3 credentials with placeholders only (not in the kustomization)\n"
    "  tfjob-<D>-<B>.yaml        training on Kubeflow's Training Operator (`train.operator: tfjob`), or\n"
    "  trainjob-<D>-<B>.yaml     on Kubeflow Trainer v2 with clustertrainingruntime.yaml (`trainjob`)\n"
    "  inferenceservice-<D>-<B>.yaml   KServe serving the first seed's model: TF Serving's runtime\n"
    "                            (`serve.runtime: tensorflow`) or `fairvision serve` (`fairvision`)\n"
    "  kustomization.yaml        for `kubectl apply -k k8s/`\n"
    "<D>-<B> is the dataset and backbone lower-cased, `_` and `+` written as `-`. Every value is\n"
    "checked before anything is written; the folder is then replaced whole, keeping files other\n"
    "tools wrote there (k8s/pipeline.yaml, from `fairvision pipeline compile`).",
    add_arguments, run, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
