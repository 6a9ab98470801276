"""`fairvision report`: the HTML fairness report cards of one dataset."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from fairvision import layout
from fairvision.command import Command, dataset_named
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output folder (default: reports/<D>)")


def run(params: Params, args: argparse.Namespace) -> None:
    from fairvision.report.comparison import effect_settings
    from fairvision.report.render import render_reports

    name = dataset_named(params, args.dataset).name
    out = args.out or layout.report_dir(name)
    render_reports(list(params.backbones), layout.AUDITS_DIR / name, layout.MODELS_DIR / name,
                   layout.TRAINING_DIR / name, layout.TIMINGS_DIR / name,
                   layout.prepared_dir(name) / "datasheet.json", layout.prepared_dir(name) / "manifest.parquet", out,
                   effect_settings(params.audit))
    logging.getLogger("fairvision").info("report: %s", os.path.join(out, "index.html"))


COMMAND = Command(
    "report", "render the HTML fairness report cards",
    "Render dataset D's report: reports/<D>/index.html (all backbones side by side),\n"
    "reports/<D>/<B>.html (a model card per backbone), reports/<D>/<B>.card.json (the card\n"
    "as JSON, with the SHA-256 of the prepared manifest and of the model folder) and status\n"
    "badges (reports/<D>/badge.svg, reports/<D>/<B>.badge.svg) from the audits, training\n"
    "summaries and the datasheet. Self-contained HTML: no network fetches.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
