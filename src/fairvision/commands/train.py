"""`fairvision train B`: train one backbone and export its SavedModel."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping

from fairvision import layout
from fairvision.command import Command, backbone_options, chosen_seeds, dataset_named, start_tensorflow
from fairvision.errors import FairvisionError
from fairvision.models.backbones import require_backbone
from fairvision.params import Params

CHECKPOINT_ENV = "FAIRVISION_CHECKPOINT_DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name, e.g. small_cnn or mobilenet_v2")
    parser.add_argument("--seed", type=int, metavar="S",
                        help="train this seed only (default: every seed of params.yaml `train.seeds`, in turn)")
    parser.add_argument("--out", help="model folder (default: models/<D>/<B>/seed-<S>; one seed only)")
    parser.add_argument("--history", help="per-epoch metrics CSV (default: training/<D>/<B>/seed-<S>/history.csv; "
                                          "one seed only)")
    parser.add_argument("--timing", help="wall time and images/s JSON (default: timings/<D>/<B>/seed-<S>.json; "
                                         "one seed only)")
    parser.add_argument("--checkpoint-dir", metavar="DIR",
                        help=f"keep the per-epoch state in DIR/<D>/<B>/seed-<S>/ while training, so a killed run "
                             f"started again resumes where it stopped (default: ${CHECKPOINT_ENV} if set, else "
                             f"{layout.CHECKPOINTS_DIR}/). On several workers only the chief writes it and every "
                             "worker resumes from it: a folder they all read, such as a shared volume")
    parser.add_argument("--no-checkpoint", action="store_true", help="keep no per-epoch state")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset, options = dataset_named(params, args.dataset).name, backbone_options(params, args.backbone)
    require_backbone(args.backbone)
    seeds = chosen_seeds(params, args.seed)
    for flag in ("out", "history", "timing"):
        if getattr(args, flag) and len(seeds) > 1:
            raise FairvisionError(f"--{flag} names one model's file, and params.yaml `train.seeds` lists "
                                  f"{len(seeds)} seeds: say which with --seed")
    root = checkpoint_root(args.checkpoint_dir, args.no_checkpoint, os.environ)
    if len(seeds) > 1:
        for seed in seeds:
            _train_alone(args, seed)
        return
    start_tensorflow()  # only once the arguments are known to be good
    from fairvision.models.train import train

    seed = seeds[0]
    train(args.backbone, options, params.train, layout.prepared_dir(dataset),
          args.out or layout.model_dir(dataset, args.backbone, seed),
          args.history or layout.history_path(dataset, args.backbone, seed),
          args.timing or layout.timing_path(dataset, args.backbone, seed), seed=seed,
          checkpoint_dir=None if root is None else layout.checkpoint_dir(dataset, args.backbone, seed, root))


def _train_alone(args: argparse.Namespace, seed: int) -> None:
    """Train one seed in a process of its own, as `dvc repro` does: TensorFlow names a SavedModel's functions by a
    per-process count, so a second model traced in one process would differ in bytes from the same seed alone."""
    command = [sys.executable, "-m", "fairvision.commands.train", args.backbone, "--params", args.params,
               "--seed", str(seed)]
    for flag, value in (("--dataset", args.dataset), ("--checkpoint-dir", args.checkpoint_dir)):
        command += [flag, value] if value is not None else []
    command += ["--no-checkpoint"] * args.no_checkpoint + ["--verbose"] * args.verbose
    status = subprocess.run(command, check=False).returncode
    if status:
        raise FairvisionError(f"training seed {seed} of {args.backbone} failed (exit status {status}; its error is "
                              "above)")


def checkpoint_root(flag: str | None, disabled: bool, environment: Mapping[str, str]) -> Path | None:
    """Where every run keeps its per-epoch state: --checkpoint-dir, else $FAIRVISION_CHECKPOINT_DIR (what the
    generated Kubernetes jobs set to their shared volume), else the default; None with --no-checkpoint."""
    if disabled:
        if flag is not None:
            raise FairvisionError("--no-checkpoint keeps no state and --checkpoint-dir says where to keep it: give one")
        return None
    for name, value in (("--checkpoint-dir", flag), (CHECKPOINT_ENV, environment.get(CHECKPOINT_ENV))):
        if value is None:
            continue
        if not value.strip():
            raise FairvisionError(f"{name} is empty: name a folder (or leave it out for {layout.CHECKPOINTS_DIR}/)")
        if Path(value).exists() and not Path(value).is_dir():
            raise FairvisionError(f"{name}={value}: not a folder")
        return Path(value)
    return layout.CHECKPOINTS_DIR


COMMAND = Command(
    "train", "train one backbone; export a SavedModel",
    "Train backbone B (a key of params.yaml `backbones`) on dataset D's prepared shards with\n"
    "a seeded custom loop, once per seed of `train.seeds` (or --seed), and write\n"
    "models/<D>/<B>/seed-<S>/: a SavedModel whose serving_default signature takes encoded\n"
    "image bytes and returns probabilities and class names, labels.txt and train.json (all\n"
    "determined by the seed), plus training/<D>/<B>/seed-<S>/history.csv (per-epoch loss and\n"
    "accuracy) and timings/<D>/<B>/seed-<S>.json (wall time, images/s), kept outside the\n"
    "model so a retrain with identical weights changes\n"
    "nothing downstream. Runs on every local GPU (mixed precision), or on every worker\n"
    "of a Kubeflow TFJob (TF_CONFIG) or Trainer v2 TrainJob (TF_CONFIG derived from the\n"
    "JobSet variables JOBSET_NAME, REPLICATED_JOB_NAME, JOB_COMPLETION_INDEX and\n"
    "FAIRVISION_NUM_NODES). A killed run started again resumes from its last finished\n"
    "epoch (--checkpoint-dir, FAIRVISION_CHECKPOINT_DIR) and ends with the same weights\n"
    "as an uninterrupted one; workers that find other state than the chief stop.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
