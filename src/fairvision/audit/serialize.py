"""``fairness.json``: the serialization of an audit, and the one schema audit, check and report share
(read back by ``record``, which also holds its ``SCHEMA_VERSION``).

Intervals sit beside their values (``{"value": …, "ci": [low, high]}``); undefined
numbers are ``null`` with a reason, never NaN (not JSON) and never silently 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from fairvision.audit.engine import Estimate, GroupResult, Judged, OutcomeResult, PartitionResult
from fairvision.audit.performance import LabelPerformance
from fairvision.statistics import number


def estimate(result: Estimate) -> dict[str, Any]:
    return {"value": number(result.value), "ci": [number(result.low), number(result.high)]}


def spread(values: Sequence[float]) -> dict[str, Any]:
    """One number across training seeds: each seed's value (null where undefined), their mean and SD."""
    finite = [v for v in values if math.isfinite(v)]
    mean = sum(finite) / len(finite) if finite else math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1 else math.nan
    return {"values": [number(v) for v in values], "mean": number(mean), "sd": number(sd)}


def judged(result: Judged, seeds: Sequence[Judged] = ()) -> dict[str, Any]:
    """Value (null where undefined, with the reason), interval, verdict; AIF360's own number beside it.

    ``seeds``: the same comparison in each seed's own audit, where several seeds were audited
    together: their values, mean and SD, and how many of them fail it on their own.
    """
    entry = estimate(result) | {"verdict": result.verdict, "explanation": result.explanation,
                                "aif360_value": number(result.aif360_value)}
    if result.undefined:
        entry["undefined"] = result.undefined
    if seeds:
        entry["seeds"] = spread([s.value for s in seeds]) | {"fails": sum(s.verdict == "fail" for s in seeds)}
    return entry


def group(result: GroupResult, seeds: Sequence[GroupResult] = ()) -> dict[str, Any]:
    """A group's n, statuses and rates; its comparisons only where judged (not for insufficient data).

    ``seeds``: the group in each seed's own audit (several seeds audited together): each rate
    and comparison then carries its spread across them.
    """
    def rate(name: str) -> dict[str, Any]:
        return estimate(result.rates[name]) | ({"seeds": spread([s.rates[name].value for s in seeds])} if seeds else {})

    def comparison(against: str, metric: str) -> dict[str, Any]:
        return judged(result.comparisons[against][metric], [s.comparisons[against][metric] for s in seeds])

    return {
        "n": result.n,
        "status": dict(result.status),
        "rates": {name: rate(name) for name in result.rates},
        **{f"vs_{against}": {metric: comparison(against, metric) for metric in metrics}
           for against, metrics in result.comparisons.items()
           if result.status[against] != "insufficient_data"},
    }


def outcome(result: OutcomeResult, seeds: Sequence[OutcomeResult] = ()) -> dict[str, Any]:
    return {
        "interval_level": {against: number(level.value) for against, level in result.levels.items()},
        "interval_resolution": {against: {"family_size": level.family_size, "resamples": level.resamples,
                                          "at_ceiling": level.at_ceiling}
                                for against, level in result.levels.items()},
        "theil_index": estimate(result.theil_index),
        "between_group_theil_index": estimate(result.between_group_theil_index),
        "groups": {name: group(g, [s.groups[name] for s in seeds]) for name, g in result.groups.items()},
    }


def partition(result: PartitionResult, seeds: Sequence[PartitionResult] = ()) -> dict[str, Any]:
    """One partition; ``seeds`` are its audits in each seed's own audit, when several seeds were audited."""
    groups = next(iter(result.outcomes.values())).groups
    return {
        "attributes": list(result.attributes),
        "reference": result.reference,
        "reference_reason": result.reference_reason,
        "groups": {name: {"n_train": result.train_sizes.get(name, 0), "n_test": g.n} for name, g in groups.items()},
        "outcomes": {name: outcome(o, [s.outcomes[name] for s in seeds]) for name, o in result.outcomes.items()},
    }


def per_label(results: Mapping[str, LabelPerformance]) -> dict[str, Any]:
    """Per label, in the audit's label order: its n and each score with its interval."""
    return {label: {"n": r.n, **{score: estimate(e) for score, e in r.scores.items()}} for label, r in results.items()}
