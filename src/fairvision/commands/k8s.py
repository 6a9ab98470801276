"""`fairvision k8s [write|submit]`: every Kubernetes manifest from params.yaml into k8s/, or one training job run
on the cluster to its end."""

from __future__ import annotations

import argparse
import logging
import sys

from fairvision.command import Command, backbone_options, dataset_named
from fairvision.errors import FairvisionError
from fairvision.params import Params


def _seconds(text: str) -> float:
    """A number of seconds greater than 0, for --timeout and --poll."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:  # also NaN
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("write", "submit"), default="write",
                        help="write (the default): every manifest into --out; submit: run BACKBONE's training job "
                             "on the cluster and wait for it")
    parser.add_argument("backbone", nargs="?", metavar="BACKBONE", help="submit: a key of params.yaml `backbones`")
    parser.add_argument("--out", default="k8s", help="write: the output folder (default: %(default)s)")
    parser.add_argument("--dataset", metavar="D",
                        help="submit: a key of params.yaml `datasets` (default: the only one there)")
    parser.add_argument("--timeout", type=_seconds, default=86400.0, metavar="S",
                        help="submit: seconds to wait for the job to end (default: %(default)g, a day)")
    parser.add_argument("--poll", type=_seconds, default=10.0, metavar="S",
                        help="submit: seconds between two reads of the job's status (default: %(default)g)")
    parser.add_argument("--kubeconfig", metavar="FILE",
                        help="submit: the cluster's kubeconfig (default: $KUBECONFIG or ~/.kube/config; in a pod "
                             "given neither, its service account)")


def run(params: Params, args: argparse.Namespace) -> None:
    if args.action == "submit":
        _submit(params, args)
        return
    if args.backbone is not None:
        raise FairvisionError(f"`fairvision k8s` takes a backbone only after `submit`: `fairvision k8s submit "
                              f"{args.backbone}`")
    from fairvision.pipeline.k8s import manifests
    from fairvision.pipeline.k8s_files import write_manifests
    from fairvision.pipeline.k8s_params import load_kubernetes

    written = write_manifests(manifests(params, load_kubernetes(args.params), args.params), args.out)
    logging.getLogger("fairvision").info("k8s: %d manifests in %s/ (apply with `kubectl apply -k %s`)",
                                         len(written), args.out, args.out)


def _submit(params: Params, args: argparse.Namespace) -> None:
    if args.backbone is None:
        raise FairvisionError("`fairvision k8s submit` needs a backbone: one of params.yaml `backbones` "
                              f"({', '.join(params.backbones)})")
    from fairvision.pipeline.jobs import submit_training

    backbone_options(params, args.backbone)  # its error lists the known backbones
    submit_training(args.params, dataset_named(params, args.dataset).name, args.backbone, timeout=args.timeout,
                    poll=args.poll, kubeconfig=args.kubeconfig)


COMMAND = Command(
    "k8s", "write every Kubernetes manifest from params.yaml, or run one training job on a cluster",
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
    "tools wrote there (k8s/pipeline.yaml, from `fairvision pipeline compile`).\n\n"
    "submit BACKBONE [--dataset D]: create that training job (the TFJob or TrainJob above) on\n"
    "the cluster of --kubeconfig, and wait for it: each change of its condition is logged; exit\n"
    "status 0 when it succeeds, 1 when it fails (with the job's own reason and message) or\n"
    "--timeout passes (the job is left running). Apply namespace.yaml, serviceaccount.yaml,\n"
    "pvc-checkpoints.yaml (and clustertrainingruntime.yaml) first, not the kustomization, which\n"
    "starts every job. A job of that name submitted from the same body is waited for; any other\n"
    "is an error.",
    add_arguments, run, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
