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
    from fairvision.report.render import render_reports

    name = dataset_named(params, args.dataset).name
    out = args.out or layout.report_dir(name)
    render_reports(list(params.backbones), layout.AUDITS_DIR / name, layout.MODELS_DIR / name,
                   layout.TRAINING_DIR / name, layout.TIMINGS_DIR / name,
                   layout.prepared_dir(name) / "datasheet.json", out)
    logging.getLogger("fairvision").info("report: %s", os.path.join(out, "index.html"))


COMMAND = Command(
    "report", "render the HTML fairness report cards",
    "Render dataset D's report: reports/<D>/index.html (all backbones side by side),\n"
    "reports/<D>/<B>.html (a model card per backbone) and reports/<D>/<B>.card.json from\n"
    "the audits, training summaries and the datasheet. Self-contained HTML: no network\n"
    "fetches.",
    add_arguments, run)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
