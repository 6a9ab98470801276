"""Measure what the published audit's intervals and verdicts are worth: docs/audit-validation.json and .md.

Draws fresh prediction tables shaped like the published demo (its race × age cells) from
populations with a known truth (``fairvision.audit.validation.scenarios``), audits each with
``audit_table`` exactly as `fairvision audit` does with params.yaml's `audit` settings, and
measures every claim of ``validation.criteria()``: interval coverage (per interval and per
table) over every metric, partition (race, age, race × age), outcome framing and side; false
fails without bias and at a gap equal to the tolerance; detection at twice the tolerance;
a zero-event group's fail. Each figure comes with its Monte-Carlo standard error (clustered
by run) and its target. ``tests/test_validation.py`` checks the JSON is current (the spec
hash) and that every target is met.

    .venv/bin/python scripts/validate_audit.py [--runs 50] [--seed 0] [--out docs/audit-validation.json]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fairvision.audit.simulate import Population
from fairvision.audit.stage import engine_settings
from fairvision.audit.validation import (
    Tally, audit_scenario, coverage_by_metric, criteria, engine_hash, scenarios, share, spec_hash,
)
from fairvision.files import write_json, write_text
from fairvision.params import load_params

RUNS = 50  # per scenario: 12 to 13 minutes on 2 cores (a demo-shaped audit takes about 3 s, the 1,000-per-race one 5 s)


def measure(runs: int, seed: int, params_path: Path) -> dict[str, Any]:
    """Run every scenario ``runs`` times and return the report (the JSON's content)."""
    started = time.perf_counter()
    engine = engine_hash()  # the code imported now is the code measured, whatever is edited meanwhile
    settings = engine_settings(load_params(params_path).audit)
    tallies: dict[str, list[Tally]] = {}
    by_metric: dict[str, Counter] = {}
    for index, (name, scenario) in enumerate(scenarios(settings).items()):
        tallies[name], by_metric[name] = [], Counter()
        for run in range(runs):
            began = time.perf_counter()
            _, counts, metrics = audit_scenario(scenario, settings, (seed, index, run))
            tallies[name].append(counts)
            by_metric[name].update(metrics)
            print(f"{name}: run {run + 1}/{runs} ({time.perf_counter() - began:.1f} s, "
                  f"{time.perf_counter() - started:.0f} s in all)", file=sys.stderr, flush=True)
    measured = []
    for criterion in criteria(settings.level):
        found = share(tallies[criterion.scenario], criterion.measure)
        measured.append({
            "name": criterion.name, "scenario": criterion.scenario, "description": criterion.description,
            "value": _number(found.value), "standard_error": _number(found.standard_error),
            "hits": found.hits, "trials": found.trials, "runs": found.runs,
            "target": criterion.target, "comparison": ">=" if criterion.at_least else "<=",
            "verdict": criterion.judged(found.value, found.standard_error) if found.trials else "not met",
        })
    listed = scenarios(settings)
    return {
        "command": _command(),
        "seed": seed,
        "runs": runs,
        "spec_sha256": spec_hash(settings),
        "engine_sha256": engine,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "settings": {"params": str(params_path), "min_group_size": settings.min_group_size,
                     "min_events": settings.min_events, "min_resamples": settings.resamples,
                     "level": settings.level, "multiple_comparisons": settings.multiple_comparisons,
                     "tolerance": {name: [band.low, band.high] for name, band in settings.bands.items()}},
        "scenarios": {name: {"description": s.description, "images": sum(s.population.sizes),
                             "cells": _cells(s.population)} for name, s in listed.items()},
        "criteria": measured,
        "all_met": all(c["verdict"] != "not met" for c in measured),
        "coverage_by_metric": {name: {metric: round(value, 4) for metric, value in coverage_by_metric(counts).items()}
                               for name, counts in by_metric.items()},
    }


MARKS = {"met": "yes", "within error": "within error (short by < 2 ±)", "not met": "**no**"}


def markdown(report: dict[str, Any]) -> str:
    """The report as the Markdown page (and the README's table)."""
    lines = [
        "# Validation of the audit's intervals and verdicts",
        "",
        f"`{report['command']}`: {report['runs']} runs per scenario, seed {report['seed']}, "
        f"{report['elapsed_seconds'] / 60:.1f} minutes; spec `{report['spec_sha256'][:12]}`, engine "
        f"`{report['engine_sha256'][:12]}`. "
        "Every run audits a fresh simulated table shaped like the published demo with `audit_table`, as "
        "`fairvision audit` does (params.yaml `audit`: "
        f"{report['settings']['level']:.0%} {report['settings']['multiple_comparisons']} intervals, "
        f"at least {report['settings']['min_resamples']:,} resamples, min_group_size "
        f"{report['settings']['min_group_size']}, min_events {report['settings']['min_events']}), over every "
        "metric, partition (race, age, race × age), outcome framing and side (against the reference, against "
        "the rest). ± is one Monte-Carlo standard error (clustered by run).",
        "",
        "| criterion | scenario | measured | target | met |",
        "|---|---|---:|---:|:---:|",
    ]
    for c in report["criteria"]:
        value = "n/a" if c["value"] is None else f"{c['value']:.1%}"
        error = "" if c["standard_error"] is None else f" ± {c['standard_error']:.1%}"
        lines.append(f"| {c['description']} | {c['scenario']} | {value}{error} ({c['hits']:,} of {c['trials']:,}) "
                     f"| {c['comparison'].replace('>=', '≥').replace('<=', '≤')} {c['target']:.0%} "
                     f"| {MARKS[c['verdict']]} |")
    lines += ["", "Scenarios:", ""]
    lines += [f"- **{name}** ({s['images']:,} images): {s['description']}." for name, s in report["scenarios"].items()]
    names = list(report["coverage_by_metric"])
    metrics = list(dict.fromkeys(m for per in report["coverage_by_metric"].values() for m in per))
    lines += ["", "Coverage of the judged intervals, per metric:", "",
              "| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for metric in metrics:
        cells = [report["coverage_by_metric"][name].get(metric) for name in names]
        lines.append(f"| {metric} | " + " | ".join("" if v is None else f"{v:.1%}" for v in cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float) -> float | None:
    return None if value != value else round(value, 6)


def _cells(population: Population) -> list[list[Any]]:
    return [[*cell, size] for cell, size in zip(population.cells, population.sizes)]


def _command() -> str:
    python = os.path.relpath(sys.executable) if Path(sys.executable).absolute().is_relative_to(Path.cwd()) else "python"
    return shlex.join([python, *sys.argv])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS, help="fresh tables per scenario (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every table and bootstrap (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("docs/audit-validation.json"),
                        help="the JSON; the Markdown goes beside it with .md (default: %(default)s)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="whose `audit` settings to validate")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error(f"--runs must be at least 2 (a standard error needs two runs), got {args.runs}")
    report = measure(args.runs, args.seed, args.params)
    write_json(args.out, report)
    write_text(args.out.with_suffix(".md"), markdown(report))
    print(markdown(report))
    if not report["all_met"]:
        missed = ", ".join(c["name"] for c in report["criteria"] if c["verdict"] == "not met")
        sys.exit(f"not met: {missed}")


if __name__ == "__main__":
    main()
