"""`fairvision check --baseline REV`: fail CI when fairness regressed against a baseline audit."""

from __future__ import annotations

import argparse
import sys

from fairvision import layout
from fairvision.command import Command, backbone_options, dataset_named
from fairvision.params import Params

CHECK_USAGE_ERROR = 3  # `fairvision check` could not run; 1 and 2 are its regression and inconclusive


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbones", nargs="*", metavar="BACKBONE",
                        help="backbones to check (default: every one in params.yaml `backbones`)")
    parser.add_argument("--dataset", dest="datasets", action="append", metavar="D",
                        help="a dataset to check; repeat for several (default: every one in params.yaml `datasets`)")
    parser.add_argument("--baseline", required=True, metavar="REV_OR_PATH",
                        help="an audits folder holding <D>/<B>/fairness.json, or a git revision such as origin/main")
    parser.add_argument("--format", choices=("text", "markdown"), default="text",
                        help="text for a terminal or CI log, markdown for a pull-request comment (default: text)")


def run(params: Params, args: argparse.Namespace) -> int:
    from fairvision.audit.check import render, run_check
    from fairvision.audit.gate import CheckSettings

    datasets = ([dataset_named(params, name).name for name in args.datasets] if args.datasets
                else list(params.datasets))
    backbones = args.backbones or list(params.backbones)
    for backbone in backbones:
        backbone_options(params, backbone)
    runs = [layout.run_name(dataset, backbone) for dataset in datasets for backbone in backbones]
    result = run_check(runs, args.baseline, CheckSettings.from_params(params))
    sys.stdout.write(render(result, args.format))
    return result.exit_status


COMMAND = Command(
    "check", "fail when fairness regressed against a baseline audit (the CI gate)",
    "Compare audits/<D>/<B>/fairness.json (and predictions/seed-<S>.parquet) in the working tree with\n"
    "a baseline: an audits folder holding <D>/<B>/fairness.json, or a git revision read through\n"
    "DVC. With both prediction tables, a paired bootstrap over the shared image ids gives an\n"
    "interval for each comparison's change in distance from parity; without them, the two\n"
    "audits' intervals are compared (unpaired, conservative). A change is a regression when\n"
    "its whole interval lies above the margin in params.yaml `check` plus the metric's\n"
    "training-noise allowance (`check.training_noise`) where a side is one training run, whose\n"
    "randomness no interval measures (docs/seed-variance.md). Past the margin only, it is\n"
    "inconclusive, saying so; so is a point past the margin whose interval reaches below it.\n"
    "With several seeds on both sides (`train.seeds`) the check compares the procedures: the\n"
    "seeds' spread is in every interval and no allowance applies, and a point past the margin\n"
    "whose interval reaches below it is within that measured noise: ok, listed as SEED NOISE.\n\n"
    "The margins, allowances and the audit's min_group_size, level and method may not be looser\n"
    "than the baseline's (its params.yaml at a revision, its fairness.json): a change cannot loosen the\n"
    "gate that checks it. What the baseline judged must still be judged: a partition or group\n"
    "gone from the audit, or a comparison judged before and not now, is inconclusive.\n\n"
    "exit status:\n"
    "  0  no regression\n"
    "  1  a regression (at least one comparison's interval wholly above its margin and allowance)\n"
    "  2  inconclusive: no regression shown, but a single run's gap grew past a margin with an\n"
    "     interval reaching below it or within the training-noise allowance, something the baseline\n"
    "     judged is not judged now, or nothing could be judged\n"
    "  3  the check could not run: bad arguments, a missing or broken file, audits of\n"
    "     different evaluation sets, predictions that are not the audited ones, or settings\n"
    "     that loosen the baseline's",
    add_arguments, run, one_dataset=False, error_status=CHECK_USAGE_ERROR)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
