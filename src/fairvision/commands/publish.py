"""`fairvision publish DEST`: the current report cards, added as a run to a static site with history."""

from __future__ import annotations

import argparse
import logging
import sys

from fairvision import layout
from fairvision.command import Command, dataset_named
from fairvision.params import Params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", metavar="DEST", help="the site: a folder, or s3://bucket/prefix (credentials and "
                                                     "endpoint from the AWS environment)")
    parser.add_argument("--dataset", metavar="D", action="append",
                        help="publish dataset D's reports (repeat for several; default: every dataset in "
                             "params.yaml `datasets`)")


def run(params: Params, args: argparse.Namespace) -> None:
    from fairvision.publish.build import publish
    from fairvision.publish.identity import git_state, params_sha256
    from fairvision.publish.site import INDEX

    datasets = [dataset_named(params, name).name for name in args.dataset] if args.dataset else list(params.datasets)
    git = git_state(".")
    if git.dirty:
        logging.getLogger("fairvision").warning(
            "publish: the work tree has uncommitted changes (`git status --porcelain`): the runs are marked dirty")
    published = publish(args.dest, {name: layout.report_dir(name) for name in dict.fromkeys(datasets)}, git,
                        params_sha256(args.params))
    for result in published:
        logging.getLogger("fairvision").info("publish: %s: %s run %s", result.run.identity.dataset,
                                             "added" if result.added else "already had", result.run.name)
    logging.getLogger("fairvision").info("publish: site: %s/%s", args.dest.rstrip("/"), INDEX)


COMMAND = Command(
    "publish", "publish the report cards to a static site with history",
    "Add the current reports (reports/<D>/, as `dvc repro` left them) to the static site at\n"
    "DEST, a folder or s3://bucket/prefix, as one run per dataset:\n"
    "  DEST/runs/<run>/        the reports, each card stamped with the run's git revision\n"
    "  DEST/trends/<D>/<B>.html accuracy, verdicts and worst gaps per partition over the runs\n"
    "  DEST/history.json       every run, newest first: what index and trends are built from\n"
    "  DEST/index.html         every run, newest first, with links\n"
    "<run> is <date>-<revision>-<D>-<params hash>, the date being the commit's. A run is its git\n"
    "revision, dataset and params.yaml content: publishing it again changes nothing. From a work\n"
    "tree with uncommitted changes, a run is marked dirty, dated when first published, and keyed\n"
    "by its reports' content too (<date>-<revision>-dirty-<reports hash>-<D>-<params hash>).\n"
    "A run's files are written before anything links them and index.html last, so a publish\n"
    "stopped midway leaves no broken link; running it again completes it.",
    add_arguments, run, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
