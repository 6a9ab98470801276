"""`fairvision prepare`: validate a dataset; write its manifest, shards and datasheet."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command, dataset_named, start_tensorflow
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output folder (default: data/prepared/<D>)")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset = dataset_named(params, args.dataset)
    start_tensorflow()  # the shards are TFRecords
    from fairvision.data.prepare import prepare

    prepare(dataset, params.prepare, args.out or layout.prepared_dir(dataset.name))


COMMAND = Command(
    "prepare", "validate the dataset; write manifest, shards, datasheet",
    "Read dataset D of params.yaml `datasets` at its `path` (a folder or s3://bucket/prefix)\n"
    "in its `format`: fairface (label CSVs + image zip or extracted folders),\n"
    "cloud_annotations (_annotations.json next to the images; localization boxes are\n"
    "cropped) or image_folder (<label>/<image> or <split>/<label>/<image>), with protected\n"
    "attributes from FairFace's CSVs or the side CSV its `attributes` names. Validate every\n"
    "example and write to data/prepared/<D>/: manifest.parquet (id, image, split,\n"
    "label, one column per attribute, sha256), shards/<split>-NNNNN-of-MMMMM.tfrecord,\n"
    "datasheet.json (counts per split, label and group) and rejected.csv (every\n"
    "example that failed validation, with the reason). Splits the source does not fix are\n"
    "carved by a hash of the id. S3 credentials come from the AWS environment.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
