"""Measure what cohort discovery's claims are worth on fresh simulated tables: docs/discovery.json and .md.

Prediction-level plants (``fairvision.discover.simulate``): attributes drawn like the
synthetic data, a base error rate of 0.15, and one planted cohort whose error rate is higher
by Δ, over prevalence {1, 2, 5, 10 %} × Δ {0, 2, 5, 10, 20 points} × evaluation size {2k, 5k,
20k}. Δ = 0 is the null (no plant at all: every prevalence is the same table), run per size.
Every run draws a fresh table from its own seed; nothing in the method was tuned on these
draws (the power rule and the procedures are analytic; the pilots used another seed).

Measured per cell: the chance of any report on the null (goal ≤ 0.05), the FDR (goal ≤ q),
the coverage of the selected intervals against the closed-form true gap (goal 0.93–0.97),
recall of the planted cohort itself, and how often it is its own finding. Arms:

* ``intersections``: the product's settings with the MDSS scan off, in every cell.
* ``defaults``: the product's settings as shipped (MDSS on: ~2 s a table in AIF360's scan),
  on the 5k null and the Δ = 10 plants at 5k (the MDSS scan only proposes; error control does
  not depend on the proposals).
* SliceLine, DivExplorer and Error Analysis on the same tables (those installed; a subset of
  the runs).

The default run fits in a few minutes on 2 cores, with fewer runs in the non-null cells;
``--full`` runs 200 per cell everywhere (hours).

    .venv/bin/python scripts/discovery_validation.py [--full] [--seed 1] [--out docs/discovery.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from fairvision.audit.bootstrap import available_cores
from fairvision.audit.tolerance import bands
from fairvision.discover import anchors
from fairvision.discover.settings import Settings
from fairvision.discover.simulate import BASE_ERROR, PLANTS, Plant, share
from fairvision.discover.validation import anchor_runs, run_once, side_by_side, summarise
from fairvision.files import write_json, write_text
from fairvision.params import load_params

SIZES = (2_000, 5_000, 20_000)
GAPS = (0.02, 0.05, 0.10, 0.20)
DEFAULT_RUNS = {"null": 200, "plant": 40, "anchor_null": 40, "anchor_plant": 6, "mdss_null": 40, "mdss_plant": 10}
FULL_RUNS = {"null": 400, "plant": 200, "anchor_null": 200, "anchor_plant": 50, "mdss_null": 200, "mdss_plant": 50}
MDSS_SIZE, MDSS_GAP = 5_000, 0.10


@dataclasses.dataclass(frozen=True)
class Task:
    arm: str
    prevalence: str | None
    gap: float
    rows: int
    run: int
    anchors: bool


def cells(runs: dict[str, int]) -> list[Task]:
    """Every run of the study, in a fixed order (each has its own seed, so the order changes nothing)."""
    tasks = []
    for rows in SIZES:
        tasks += [Task("intersections", None, 0.0, rows, r, r < runs["anchor_null"]) for r in range(runs["null"])]
        for prevalence in PLANTS:
            for gap in GAPS:
                tasks += [Task("intersections", prevalence, gap, rows, r, r < runs["anchor_plant"])
                          for r in range(runs["plant"])]
    tasks += [Task("defaults", None, 0.0, MDSS_SIZE, r, False) for r in range(runs["mdss_null"])]
    for prevalence in PLANTS:
        tasks += [Task("defaults", prevalence, MDSS_GAP, MDSS_SIZE, r, False) for r in range(runs["mdss_plant"])]
    return tasks


def _run(task: Task, seed: int, settings: Settings, anchor_names: tuple[str, ...]) -> tuple[Task, dict[str, Any]]:
    plant = Plant(PLANTS[task.prevalence] if task.prevalence else None, task.gap)
    arm_settings = settings if task.arm == "defaults" else dataclasses.replace(settings, mdss_subsets=0)
    key = (seed, ["intersections", "defaults"].index(task.arm), SIZES.index(task.rows),
           list(PLANTS).index(task.prevalence) + 1 if task.prevalence else 0, int(round(task.gap * 100)), task.run)
    return task, run_once(plant, task.rows, key, arm_settings, anchor_names if task.anchors else ())


def measure(runs: dict[str, int], seed: int, params: Path, workers: int) -> dict[str, Any]:
    started = time.perf_counter()
    audit = load_params(params).audit
    settings = Settings(bands=bands(audit.tolerance), level=audit.bootstrap.level)
    versions = anchors.available()
    anchor_names = anchor_runs(versions)
    tasks = cells(runs)
    results: dict[tuple[str, str | None, float, int], list[dict[str, Any]]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run, task, seed, settings, anchor_names) for task in tasks]
        for done, future in enumerate(futures, 1):
            task, tally = future.result()
            results.setdefault((task.arm, task.prevalence, task.gap, task.rows), []).append(tally)
            if done % 200 == 0 or done == len(futures):
                print(f"{done}/{len(futures)} runs, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    summaries = []
    for (arm, prevalence, gap, rows), tallies in results.items():
        cohort = PLANTS[prevalence] if prevalence else None
        summaries.append({"arm": arm, "prevalence": prevalence, "plant": cohort.name if cohort else None,
                          "true_prevalence": round(share(cohort), 5) if cohort else None, "gap": gap, "rows": rows,
                          **summarise(tallies, settings.fdr)})
    pooled = {}
    for gap in (0.0, *GAPS):
        tallies = [t for (arm, _, g, _), ts in results.items() if arm == "intersections" and g == gap for t in ts]
        figures = side_by_side(tallies, settings.fdr)
        if figures:
            pooled["null" if gap == 0 else f"{gap:.2f}"] = figures
    return {
        "command": _command(), "seed": seed, "runs": runs, "workers": workers,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "settings": {"fdr": settings.fdr, "level": settings.level, "procedure": settings.procedure, "false_alarm": settings.false_alarm,
                     "max_candidates": settings.max_candidates, "max_order": settings.max_order,
                     "power": settings.power, "metrics": list(settings.metrics), "mdss_subsets": settings.mdss_subsets,
                     "mdss_iterations": settings.mdss_iterations, "mdss_penalty": settings.mdss_penalty,
                     "tolerance": {m: settings.bands[m].high for m in settings.metrics}, "base_error": BASE_ERROR},
        "anchors": {name: version for name, version in versions.items()},
        "cells": summaries,
        "side_by_side": pooled,
    }


def _pct(figure: dict[str, Any] | None, digits: int = 1) -> str:
    if not figure or figure.get("value") is None:
        return "–"
    se = figure.get("se")
    return f"{figure['value']:.{digits}%}" + (f" ± {se:.{digits}%}" if se else "")


def markdown(report: dict[str, Any]) -> str:
    """The tables of docs/discovery.md's validation section."""
    s = report["settings"]
    cells_ = report["cells"]
    lines = [f"`{report['command']}`: seed {report['seed']}, {report['workers']} workers, "
             f"{report['elapsed_seconds'] / 60:.1f} minutes. Settings: q = {s['fdr']}, intervals with FCR ≤ "
             f"{1 - s['level']:.2f}, {s['procedure'].upper()} "
             f"behind a Simes gate at {s['false_alarm']}, at most {s['max_candidates']} candidates, intersections up "
             f"to order {s['max_order']}, power {s['power']}, tolerance {s['tolerance']['error_rate_difference']}. "
             "± is one Monte-Carlo standard error.", "",
             "**Null (no planted cohort), arm `intersections`:**", "",
             "| rows | runs | any report (goal ≤ 5 %) | BH without gate | BY with gate | candidates |",
             "|---:|---:|---:|---:|---:|---:|"]
    for c in cells_:
        if c["arm"] == "intersections" and c["prevalence"] is None:
            lines.append(f"| {c['rows']:,} | {c['runs']} | {_pct(c['bh_gated']['false_alarm'])} | "
                         f"{_pct(c['bh']['false_alarm'])} | {_pct(c['by_gated']['false_alarm'])} | "
                         f"{c['candidates_mean']} |")
    lines += ["", "**Planted cohorts, arm `intersections`** (FDR goal ≤ q = 10 %, coverage goal 93–97 %):", "",
              "| prevalence (plant) | Δ | rows | runs | eligible | recall | own finding | FDR | any false | "
              "coverage (intervals) | FCR | BH no gate: FDR / recall | BY: FDR / recall |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cells_:
        if c["arm"] == "intersections" and c["prevalence"] is not None:
            cov = c["coverage"]
            coverage = "–" if cov["value"] is None else (f"{cov['value']:.1%}" + (f" ± {cov['se']:.1%}" if cov["se"] else "")
                                                      + f" ({cov['intervals']})")
            lines.append(
                f"| {c['prevalence']} ({c['true_prevalence']:.2%}) | {c['gap']:.0%} | {c['rows']:,} | {c['runs']} | "
                f"{_pct(c['plant_candidate'], 0)} | {_pct(c['bh_gated']['recall'], 0)} | {_pct(c['plant_own'], 0)} | "
                f"{_pct(c['bh_gated']['fdr'])} | {_pct(c['bh_gated']['any_false'], 0)} | {coverage} | "
                f"{_pct(c['fcr'])} | "
                f"{_pct(c['bh']['fdr'])} / {_pct(c['bh']['recall'], 0)} | "
                f"{_pct(c['by_gated']['fdr'])} / {_pct(c['by_gated']['recall'], 0)} |")
    lines += ["", "**Arm `defaults` (MDSS scan on), 5,000 rows:**", "",
              "| prevalence | Δ | runs | any report | recall | FDR | coverage |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c in cells_:
        if c["arm"] == "defaults":
            cov = c["coverage"]
            lines.append(f"| {c['prevalence'] or 'null'} | {c['gap']:.0%} | {c['runs']} | "
                         f"{_pct(c['bh_gated']['false_alarm'])} | {_pct(c['bh_gated']['recall'], 0)} | "
                         f"{_pct(c['bh_gated']['fdr'])} | "
                         f"{'–' if cov['value'] is None else format(cov['value'], '.1%')} ({cov['intervals']}) |")
    if report["side_by_side"]:
        names = [n for n in next(iter(report["side_by_side"].values())) if n not in ("runs", "fairvision")]
        lines += ["", "**Side by side on the same tables** (the runs that also ran the anchors, every prevalence and "
                  "size pooled per Δ; each cell: any report / FDR / recall of the plant; `top-k ≤ q`: recall at the "
                  "deepest top-k whose FDR stayed ≤ q, k chosen with hindsight):", "",
                  "| Δ | runs | fairvision | " + " | ".join(names) + " | " + " | ".join(f"{n} top-k ≤ q" for n in names)
                  + " |", "|---|---:|---:|" + "---:|" * (2 * len(names))]
        for delta, figures in report["side_by_side"].items():
            def triple(f: dict[str, Any]) -> str:
                return " / ".join(_pct(f[k], 0) for k in ("false_alarm", "fdr", "recall"))
            matched = []
            for n in names:
                m = figures[n]["matched"]
                matched.append("none" if m is None else f"k = {m['k']}: {_pct(m['recall'], 0)}")
            label = "0 (null)" if delta == "null" else f"{float(delta):.0%}"
            lines.append(f"| {label} | {figures['runs']} | {triple(figures['fairvision'])} | "
                         + " | ".join(triple(figures[n]["as_reported"]) for n in names) + " | "
                         + " | ".join(matched) + " |")
    return "\n".join(lines) + "\n"


def _command() -> str:
    python = os.path.relpath(sys.executable) if Path(sys.executable).absolute().is_relative_to(Path.cwd()) else "python"
    return shlex.join([python, *sys.argv])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="200 runs in every cell (hours on 2 cores)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every table (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=available_cores(), help="processes (default: the cores)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="whose `audit.tolerance` to judge by")
    parser.add_argument("--out", type=Path, default=Path("docs/discovery.json"),
                        help="the JSON; the tables replace the marked section of the .md beside it (default: %(default)s)")
    args = parser.parse_args()
    report = measure(FULL_RUNS if args.full else DEFAULT_RUNS, args.seed, args.params, args.workers)
    write_json(args.out, report)
    tables = markdown(report)
    write_text(args.out.with_suffix(".md"), with_tables(args.out.with_suffix(".md"), tables))
    print(tables)


START, END = "<!-- validation tables: scripts/discovery_validation.py -->", "<!-- end of validation tables -->"


def with_tables(page: Path, tables: str) -> str:
    """``page`` with the text between its markers replaced by ``tables`` (the tables alone if it has no markers)."""
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    if START not in text or END not in text:
        return f"{text}{chr(10) if text else ''}{START}\n{tables}{END}\n"
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{tables}{END}{rest.split(END, 1)[1]}"


if __name__ == "__main__":
    main()
