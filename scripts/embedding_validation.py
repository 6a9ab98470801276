"""Measure discovery with its embedding searches on fresh simulated tables: the null's false alarms, FDR, coverage,
recall of a cohort only the embeddings show. Writes docs/embedding_validation.json and a table in docs/discovery.md.

Tables from ``simulate.HiddenPlant``: the labelled attributes and errors of the prediction-level
study, and 64-dimensional embeddings in which the predicted class and the race move rows along
their own axes and a hidden cohort (no column) along its own. Discovery runs with the shipped
searches (labelled intersections up to order 3 and the embedding mixture and direction from
params.yaml; the MDSS scan off, as in the study's ``intersections`` arm, for time). Every run
draws a fresh table from its own seed (study seed 1; the unit tests use others).

Truth: a labelled cohort's true gap is 0 (the hidden cohort is independent of every column); an
embedding cohort's is its frozen rule applied to a fresh 100,000-row draw, averaging each row's
error probability inside and outside. A discovery is false when its true gap is not above 0;
an interval covers when it holds the true gap; the plant is recalled when a selected embedding
cohort is at least half hidden rows on the fresh draw.

    .venv/bin/python scripts/embedding_validation.py [--runs 200] [--plant-runs 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fairvision.audit.bootstrap import available_cores
from fairvision.discover.embedding import EmbeddingCohort
from fairvision.discover.engine import discover
from fairvision.discover.options import discover_options
from fairvision.discover.simulate import ATTRIBUTES, FAVORABLE, LABELS, HiddenPlant
from fairvision.files import write_json, write_text
from fairvision.params import load_params, read_params_file

SIZES = (2_000, 5_000, 20_000)
PLANTS = ((0.05, 0.10), (0.05, 0.20), (0.10, 0.10), (0.10, 0.20))  # (prevalence, gap) at 5,000 rows
FRESH_ROWS = 100_000
MARKERS = ("<!-- embedding validation: scripts/embedding_validation.py -->", "<!-- end of embedding validation -->")


def run_once(prevalence: float, gap: float, rows: int, seed: tuple[int, ...], settings: Any) -> dict[str, Any]:
    plant = HiddenPlant(prevalence, gap)
    frame, embeddings, _ = plant.draw(rows, seed)
    found = discover(frame, labels=LABELS, favorable=FAVORABLE, attributes=ATTRIBUTES,
                     settings=dataclasses.replace(settings, seed=int(seed[-1])), embeddings=embeddings)
    _, fresh, fresh_hidden = plant.draw(FRESH_ROWS, (*seed, 1))
    error = plant.error_probability(fresh_hidden)
    membership = found.rules.membership(fresh) if found.rules is not None else np.zeros((FRESH_ROWS, 0), bool)
    selected = false = covered = recalled = 0
    for f in found.selected:
        selected += 1
        cohort = f.candidate.cohort
        truth, precision = 0.0, 0.0
        if isinstance(cohort, EmbeddingCohort):
            inside = membership[:, found.rules.cohorts.index(cohort)]
            if inside.any() and (~inside).any():
                truth = float(error[inside].mean() - error[~inside].mean())
                precision = float(fresh_hidden[inside].mean())
        false += truth <= 1e-9
        covered += f.low <= truth <= f.high
        recalled += precision >= 0.5
    return {"candidates": len(found.findings), "embedding_candidates": sum(
        isinstance(f.candidate.cohort, EmbeddingCohort) for f in found.findings), "selected": selected,
        "false": false, "covered": covered, "recalled": recalled > 0}


def cell(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(tallies)
    alarms = sum(t["false"] > 0 for t in tallies)
    fdp = [t["false"] / t["selected"] if t["selected"] else 0.0 for t in tallies]
    intervals = sum(t["selected"] for t in tallies)
    recall = sum(t["recalled"] for t in tallies)
    return {"runs": n, "any_false": alarms / n, "any_false_se": math.sqrt(alarms / n * (1 - alarms / n) / n),
            "any_report": sum(t["selected"] > 0 for t in tallies) / n, "fdr": float(np.mean(fdp)),
            "fdr_se": float(np.std(fdp, ddof=1) / math.sqrt(n)) if n > 1 else None,
            "coverage": sum(t["covered"] for t in tallies) / intervals if intervals else None,
            "intervals": intervals, "recall": recall / n,
            "embedding_candidates": float(np.mean([t["embedding_candidates"] for t in tallies]))}


def table(report: dict[str, Any]) -> str:
    lines = [MARKERS[0], f"`{report['command']}`: seed {report['seed']}, {report['minutes']:.1f} minutes on "
             f"{report['workers']} workers. Null: no cohort failed more (any report is false). Plants at 5,000 rows: "
             "a hidden cohort (no column) with its error rate higher by Δ. ± is one Monte-Carlo standard error.", "",
             "| table | runs | embedding candidates (mean) | any report | any false report | FDR | coverage (intervals) "
             "| recall of the hidden cohort |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in report["cells"].items():
        coverage = "–" if c["coverage"] is None else f"{c['coverage']:.1%} ({c['intervals']})"
        lines.append(f"| {name} | {c['runs']} | {c['embedding_candidates']:.1f} | {c['any_report']:.1%} | "
                     f"{c['any_false']:.1%} ± {c['any_false_se']:.1%} | {c['fdr']:.1%} | {coverage} | "
                     f"{c['recall']:.0%} |")
    lines.append(MARKERS[1])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="null runs per size")
    parser.add_argument("--plant-runs", type=int, default=40, help="runs per planted cell (0: the null only)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="the null's evaluation sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--out", type=Path, default=Path("docs/embedding_validation.json"))
    parser.add_argument("--doc", type=Path, default=Path("docs/discovery.md"))
    args = parser.parse_args()
    params = load_params("params.yaml")
    settings, _ = discover_options(read_params_file("params.yaml").section("discover"), params.audit)
    settings = dataclasses.replace(settings, mdss_subsets=0)
    jobs = {f"null, {rows:,} rows": [(0.0, 0.0, rows, (args.seed, rows, run)) for run in range(args.runs)]
            for rows in args.sizes}
    if args.plant_runs:
        jobs |= {f"hidden {p:.0%}, Δ {g * 100:.0f} points": [
            (p, g, 5_000, (args.seed, int(p * 100), int(g * 100), run)) for run in range(args.plant_runs)]
            for p, g in PLANTS}
    started = time.monotonic()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {name: [pool.submit(run_once, *job, settings) for job in batch] for name, batch in jobs.items()}
        cells = {name: cell([f.result() for f in batch]) for name, batch in futures.items()}
    report = {"command": shlex.join(["python", *sys.argv]), "seed": args.seed, "workers": args.workers,
              "minutes": (time.monotonic() - started) / 60, "settings": {
                  "fdr": settings.fdr, "false_alarm": settings.false_alarm, "max_candidates": settings.max_candidates,
                  "components": settings.embedding_components, "dimensions": settings.embedding_dimensions,
                  "error_weight": settings.embedding_error_weight, "top": list(settings.embedding_shares)},
              "cells": cells}
    write_json(args.out, report)
    doc = args.doc.read_text(encoding="utf-8")
    text = table(report)
    if MARKERS[0] in doc:
        doc = doc[:doc.index(MARKERS[0])] + text + doc[doc.index(MARKERS[1]) + len(MARKERS[1]):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    write_text(args.doc, doc)
    print(text)


if __name__ == "__main__":
    main()
