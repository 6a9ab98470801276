"""What discovery's claims are worth on tables with a known truth: one run's tally, and a cell's summary.

A run draws a fresh table from a plant (``simulate.Plant``), runs ``discover`` with the
given settings, and scores every selected (cohort, gap) against its true gap: a discovery
is false when the true gap is not above 0, an interval covers when it holds the true gap,
and the plant is recalled when it is selected itself (its exact conditions). The same
confirm-half p-values are also stepped up by the other procedures (BH without the gate, BY
with it), so the choice between them is measured on the same draws. When asked, SliceLine,
DivExplorer and Error Analysis (``anchors``, those installed) run on the same table and are
scored the same way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np

from fairvision.discover import anchors as anchor_tools
from fairvision.discover.engine import discover
from fairvision.discover.settings import Settings
from fairvision.discover.simulate import ATTRIBUTES, FAVORABLE, LABELS, Plant
from fairvision.discover.stepup import select

TRUE_EPSILON = 1e-9  # a true gap at most this is no gap (0 up to float rounding)
ANCHOR_DEPTH = 20  # ranked slices kept per anchor, for top-k figures
PROCEDURES = {"bh_gated": ("bh", True), "bh": ("bh", False), "by_gated": ("by", True)}
# Each anchor run of the side-by-side: its package (``anchors.PACKAGES``) and how it is called.
ANCHOR_RUNS: dict[str, tuple[str, Callable[[Any, np.ndarray], list[Any]]]] = {
    "sliceline_default": ("sliceline", lambda table, errors: anchor_tools.sliceline(table, ATTRIBUTES, errors)),
    "sliceline_small": ("sliceline", lambda table, errors: anchor_tools.sliceline(
        table, ATTRIBUTES, errors, k=ANCHOR_DEPTH, alpha=0.99)),
    "divexplorer_default": ("divexplorer", lambda table, errors: anchor_tools.divexplorer(table, ATTRIBUTES, errors)),
    "erroranalysis_default": ("erroranalysis", lambda table, errors: anchor_tools.error_analysis(
        table, ATTRIBUTES, errors)),
}


def run_once(plant: Plant, rows: int, seed: tuple[int, ...], settings: Settings,
             anchors: Sequence[str] = ()) -> dict[str, Any]:
    """One fresh table, discovered and scored: a JSON-ready tally (see ``summarise``), with the ``anchors`` runs named."""
    table = plant.draw(rows, seed)
    found = discover(table, labels=LABELS, favorable=FAVORABLE, attributes=ATTRIBUTES,
                     settings=dataclasses.replace(settings, seed=int(seed[-1])))
    truths = np.array([plant.true_gap(f.candidate.cohort, f.candidate.metric) for f in found.findings])
    is_plant = np.array([f.candidate.cohort == plant.cohort for f in found.findings], dtype=bool)
    p = np.array([f.p_value for f in found.findings])
    tally: dict[str, Any] = {"candidates": len(found.findings),
                             "plant_candidate": bool(is_plant.any())}
    for name, (procedure, gated) in PROCEDURES.items():
        chosen = select(p, settings.fdr, procedure, settings.false_alarm if gated else None).rejected
        tally[name] = {"selected": int(chosen.sum()), "false": int((chosen & (truths <= TRUE_EPSILON)).sum()),
                       "plant": bool((chosen & is_plant).any())}
    covered = intervals = 0
    plant_own = None
    children_own = children = 0
    for f, truth, mine in zip(found.findings, truths, is_plant):
        if not f.selected:
            continue
        intervals += 1
        covered += int(f.low <= truth <= f.high)
        if mine:
            plant_own = bool(f.lineage.own) if plant_own is None else plant_own or f.lineage.own
        elif plant.cohort is not None and f.candidate.cohort.order > plant.cohort.order and all(
                c in f.candidate.cohort.conditions for c in plant.cohort.conditions):
            children += 1  # a refinement of the plant: its gap is the plant's, never its own
            children_own += int(f.lineage.own)
    tally.update({"covered": covered, "intervals": intervals, "plant_own": plant_own,
                  "children": children, "children_own": children_own})
    if anchors:
        tally["anchors"] = _anchors(table, plant, anchors)
    return tally


def anchor_runs(installed: dict[str, str | None]) -> tuple[str, ...]:
    """The runs of ``ANCHOR_RUNS`` whose package ``installed`` (``anchors.available()``) has a version for."""
    return tuple(name for name, (package, _) in ANCHOR_RUNS.items() if installed.get(package))


def _anchors(table: Any, plant: Plant, names: Sequence[str]) -> dict[str, dict[str, list[int]]]:
    """Each named anchor run's ranked slices, scored: ``false`` and ``plant`` flags (0/1) in rank order, its report."""
    errors = (table["label"] != table["pred"]).to_numpy()
    scored = {}
    for name in names:
        cohorts = ANCHOR_RUNS[name][1](table, errors)
        cohorts = cohorts[:ANCHOR_DEPTH] if name.startswith("sliceline") else cohorts
        scored[name] = {"false": [int(plant.true_gap(c) <= TRUE_EPSILON) for c in cohorts],
                        "plant": [int(c == plant.cohort) for c in cohorts]}
    return scored


def summarise(tallies: Sequence[dict[str, Any]], q: float) -> dict[str, Any]:
    """A cell's figures over its runs, each proportion with its Monte-Carlo standard error."""
    runs = len(tallies)
    out: dict[str, Any] = {"runs": runs, "plant_candidate": _share([t["plant_candidate"] for t in tallies]),
                           "candidates_mean": round(float(np.mean([t["candidates"] for t in tallies])), 1)}
    for name in PROCEDURES:
        chosen = [t[name] for t in tallies]
        out[name] = {"false_alarm": _share([c["selected"] > 0 for c in chosen]),
                     "any_false": _share([c["false"] > 0 for c in chosen]),
                     "fdr": _mean([c["false"] / c["selected"] if c["selected"] else 0.0 for c in chosen]),
                     "recall": _share([c["plant"] for c in chosen]),
                     "selected_mean": round(float(np.mean([c["selected"] for c in chosen])), 3)}
    covered, intervals = sum(t["covered"] for t in tallies), sum(t["intervals"] for t in tallies)
    out["fcr"] = _mean([(t["intervals"] - t["covered"]) / t["intervals"] if t["intervals"] else 0.0 for t in tallies])
    out["coverage"] = {"value": covered / intervals if intervals else None, "covered": covered,
                       "intervals": intervals, "se": _run_clustered_se([t["covered"] for t in tallies],
                                                                       [t["intervals"] for t in tallies])}
    owns = [t["plant_own"] for t in tallies if t["plant_own"] is not None]
    out["plant_own"] = _share(owns) if owns else None
    children = sum(t["children"] for t in tallies)
    out["children_own"] = {"own": sum(t["children_own"] for t in tallies), "children": children}
    with_anchors = [t["anchors"] for t in tallies if "anchors" in t]
    if with_anchors:
        out["anchors"] = {name: _anchor_summary([a[name] for a in with_anchors], q) for name in with_anchors[0]}
    return out


def side_by_side(tallies: Sequence[dict[str, Any]], q: float) -> dict[str, Any] | None:
    """fairvision and each anchor on the same runs (those that ran the anchors): reports, FDR, recall."""
    runs = [t for t in tallies if "anchors" in t]
    if not runs:
        return None
    ours = [t["bh_gated"] for t in runs]
    out: dict[str, Any] = {"runs": len(runs), "fairvision": {
        "false_alarm": _share([c["selected"] > 0 for c in ours]),
        "fdr": _mean([c["false"] / c["selected"] if c["selected"] else 0.0 for c in ours]),
        "recall": _share([c["plant"] for c in ours])}}
    for name in runs[0]["anchors"]:
        out[name] = _anchor_summary([t["anchors"][name] for t in runs], q)
    return out


def _anchor_summary(scored: Sequence[dict[str, list[int]]], q: float) -> dict[str, Any]:
    """An anchor's report as given (all its slices) and cut to its top k; ``matched``: the deepest cut with FDR ≤ q."""
    def at(k: int | None) -> dict[str, Any]:
        cut = [(s["false"][:k], s["plant"][:k]) if k else (s["false"], s["plant"]) for s in scored]
        return {"false_alarm": _share([len(f) > 0 for f, _ in cut]),
                "fdr": _mean([sum(f) / len(f) if f else 0.0 for f, _ in cut]),
                "recall": _share([any(p) for _, p in cut]),
                "reported_mean": round(float(np.mean([len(f) for f, _ in cut])), 3)}
    summary: dict[str, Any] = {"as_reported": at(None)}
    by_k = {k: at(k) for k in range(1, ANCHOR_DEPTH + 1)}
    for k in (1, 5, 10):
        summary[f"top_{k}"] = by_k[k]
    within = [k for k, figures in by_k.items() if figures["fdr"]["value"] <= q]
    summary["matched"] = {"k": max(within), **by_k[max(within)]} if within else None
    return summary


def _share(flags: Sequence[bool]) -> dict[str, Any]:
    n = len(flags)
    value = sum(bool(f) for f in flags) / n if n else math.nan
    return {"value": _round(value), "se": _round(math.sqrt(value * (1 - value) / n)) if n else None,
            "hits": sum(bool(f) for f in flags), "runs": n}


def _mean(values: Sequence[float]) -> dict[str, Any]:
    n = len(values)
    value = float(np.mean(values)) if n else math.nan
    se = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"value": _round(value), "se": _round(se), "runs": n}


def _run_clustered_se(hits: Sequence[int], trials: Sequence[int]) -> float | None:
    """Standard error of a pooled share whose trials come in runs (ratio estimator, clustered by run)."""
    hits_a, trials_a = np.asarray(hits, float), np.asarray(trials, float)
    n, total = len(hits_a), trials_a.sum()
    if n < 2 or total == 0:
        return None
    share = hits_a.sum() / total
    residual = hits_a - share * trials_a
    return _round(float(math.sqrt(n / (n - 1) * (residual ** 2).sum()) / total))


def _round(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)
