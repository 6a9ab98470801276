"""`fairvision discover B`: the cohorts nobody configured that the model fails, with false discoveries controlled."""

from __future__ import annotations

import argparse
import logging
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named
from fairvision.files import require
from fairvision.jsonread import read_json
from fairvision.params import Params, read_params_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", help="backbone name")


def run(params: Params, args: argparse.Namespace) -> None:
    dataset = dataset_named(params, args.dataset)
    backbone_options(params, args.backbone)
    # the discovery package loads pandas and scipy: only once the arguments are known to be good
    from fairvision.discover.options import check_extra_columns, discover_options, favorable_label
    from fairvision.discover.record import JSON_NAME
    from fairvision.discover.stage import discover_stage

    settings, extra = discover_options(read_params_file(args.params).section("discover"), params.audit)
    path = require(layout.prepared_dir(dataset.name) / "datasheet.json", f"prepare --dataset {dataset.name}")
    datasheet = read_json(path, ("labels", "attributes", "target"))
    check_extra_columns(extra, attributes=datasheet["attributes"], protected=dataset.protected,
                        target=datasheet["target"], source=args.params, datasheet=str(path))
    favorable = favorable_label(params.audit, datasheet["labels"], args.params)
    seed = params.train.seeds[0]  # the served model, as the explanations: discovery is about one model's errors
    predictions = require(layout.predictions_path(dataset.name, args.backbone, seed),
                          f"evaluate {args.backbone} --dataset {dataset.name} --seed {seed}")
    model_dir = layout.model_dir(dataset.name, args.backbone, seed)
    if settings.uses_embeddings:  # `discover.embeddings` reads the served model: name it before any work
        require(model_dir / "saved_model.pb", layout.train_command(model_dir))
    out = layout.audit_dir(dataset.name, args.backbone) / JSON_NAME
    found = discover_stage(predictions, out, labels=datasheet["labels"], favorable=favorable,
                           protected=dataset.protected, extra_columns=extra, settings=settings,
                           model_dir=model_dir,
                           prepared_dir=layout.prepared_dir(dataset.name),
                           examples_dir=layout.cohort_examples_dir(dataset.name, args.backbone))
    logging.getLogger("fairvision").info("discover: %d candidates, %d selected -> %s", len(found.findings),
                                         len(found.selected), out)


COMMAND = Command(
    "discover", "cohorts the model fails that nobody configured, false discoveries controlled",
    "Search audits/<D>/<B>/predictions/seed-<S>.parquet, S the first of `train.seeds` (the\n"
    "served model), for the cohorts it fails more than the rest: every intersection of up to\n"
    "three of the protected attributes (and params.yaml `discover.extra_columns`), AIF360's\n"
    "MDSS subsets and cohorts in the served model's penultimate-layer embeddings (an error-aware\n"
    "mixture and a failure direction, `discover.embeddings`). Found on one half of the test\n"
    "split and tested on the other with exact one-sided tests, Benjamini-Hochberg at\n"
    "`discover.fdr` behind a false-alarm gate; each selected cohort gets an interval adjusted\n"
    "for the selection, the audit's verdict against `audit.tolerance`, and whether it is a\n"
    "finding of its own or inherits a parent's gap. Writes audits/<D>/<B>/cohorts.json and,\n"
    "for each selected embedding cohort, a strip of example images under their Grad-CAM maps\n"
    "in audits/<D>/<B>/cohort-examples/ (docs/discovery.md: the method and its validation).",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
