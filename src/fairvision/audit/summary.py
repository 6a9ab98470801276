"""The audit at a glance: the overall verdict, every failing comparison, the worst group per metric."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from fairvision.audit.engine import PartitionResult
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.outcomes import Outcome
from fairvision.audit.serialize import number
from fairvision.audit.vocabulary import AGAINST, worst


def distance_from_parity(metric: str, value: float) -> float:
    """How far a value is from parity: |d| for a difference, |ln r| for a ratio (so 0.8 and 1.25 are equally far)."""
    return float(distances_from_parity(np.array([value], dtype=np.float64), (metric,))[0])


def distances_from_parity(values: np.ndarray, metrics: Sequence[str]) -> np.ndarray:
    """``distance_from_parity`` of an array whose last axis runs over ``metrics`` (e.g. resamples × groups × metrics).

    A ratio <= 0 is infinitely far (ln 0); NaN (undefined) stays NaN. Vectorised so that the
    regression check can take the distance of every bootstrap replicate at once.
    """
    values = np.asarray(values, dtype=np.float64)
    is_ratio = np.array([COMPARISONS[metric].kind == "ratio" for metric in metrics])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_distance = np.where(values > 0, np.abs(np.log(values)), np.where(np.isnan(values), np.nan, np.inf))
    return np.where(is_ratio, log_distance, np.abs(values))


def summarize(results: Sequence[PartitionResult], outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """``verdict`` (worst over every judged comparison), ``failing`` comparisons, ``worst`` group per metric.

    With no partition (no protected attributes) nothing was judged: the verdict is None, not a pass.
    With partitions but no group large enough to judge, the verdict is ``inconclusive`` and
    ``verdict_reason`` says why.
    """
    failing, verdicts, worst_groups = [], [], {}
    for result in results:
        worst_groups[result.name] = {}
        for outcome in outcomes:
            groups = result.outcomes[outcome.name].groups
            for against in AGAINST:
                for name, group in groups.items():
                    status = group.status.get(against)
                    if status in ("pass", "fail", "inconclusive"):
                        verdicts.append(status)
                    if status == "fail":
                        metrics = [m for m, r in group.comparisons[against].items() if r.verdict == "fail"]
                        failing.append({"partition": result.name, "outcome": outcome.name, "against": against,
                                        "group": name, "metrics": metrics})
            worst_groups[result.name][outcome.name] = _worst_per_metric(groups, outcome)
    reason = None
    if results and not verdicts:
        reason = ("no group had enough test images to be judged (every comparison is insufficient data), "
                  "so the audit cannot say the model is fair")
    return {"verdict": worst(verdicts) if results else None, "verdict_reason": reason, "failing": failing,
            "worst_group": worst_groups}


def _worst_per_metric(groups: dict, outcome: Outcome) -> dict[str, Any]:
    """Per metric, among judged groups against the reference: the one furthest from parity (undefined values,
    null in fairness.json, are never the worst)."""
    found = {}
    for metric in outcome.metrics:
        candidates = [
            (distance_from_parity(metric, g.comparisons["reference"][metric].value), name)
            for name, g in groups.items()
            if g.status.get("reference") in ("pass", "fail", "inconclusive")
            and math.isfinite(g.comparisons["reference"][metric].value)
        ]
        if candidates:
            _, name = max(candidates)
            judged = groups[name].comparisons["reference"][metric]
            found[metric] = {"group": name, "value": number(judged.value), "verdict": judged.verdict}
    return found
