"""`fairvision synth`: the synthetic FairFace-format dataset with a planted bias."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help=f"output folder (default: {layout.SYNTHETIC_DIR}); an existing folder is "
                                      "replaced only if synth wrote it")


def run(params: Params, args: argparse.Namespace) -> None:
    from fairvision.data.synthetic import generate

    generate(params.synth, args.out or layout.SYNTHETIC_DIR)


COMMAND = Command(
    "synth", "write the synthetic FairFace-format dataset",
    "Write a synthetic dataset in FairFace's published format: fairface_label_train.csv,\n"
    "fairface_label_val.csv (header file,age,gender,race,service_test) and\n"
    "fairface-img-margin025-trainval.zip (margin125 for `synth.padding: 1.25`) with\n"
    "train/<n>.jpg and val/<n>.jpg.\n"
    "Procedural face-like images; the bias planted per params.yaml `synth.bias` is the\n"
    "audit's ground truth. Deterministic for `synth.seed`.",
    add_arguments, run, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
