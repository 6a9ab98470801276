"""``fairness.json``: the serialization of an audit, and the one schema audit, check and report share
(read back by ``record``, which also holds its ``SCHEMA_VERSION``).

Intervals sit beside their values (``{"value": …, "ci": [low, high]}``); undefined
numbers are ``null`` with a reason, never NaN (not JSON) and never silently 0.
"""

from __future__ import annotations

from typing import Any, Mapping

from fairvision.audit.engine import Estimate, GroupResult, Judged, OutcomeResult, PartitionResult
from fairvision.audit.performance import LabelPerformance
from fairvision.statistics import number


def estimate(result: Estimate) -> dict[str, Any]:
    return {"value": number(result.value), "ci": [number(result.low), number(result.high)]}


def judged(result: Judged) -> dict[str, Any]:
    """Value (null where undefined, with the reason), interval, verdict; AIF360's own number beside it."""
    entry = estimate(result) | {"verdict": result.verdict, "explanation": result.explanation,
                                "aif360_value": number(result.aif360_value)}
    if result.undefined:
        entry["undefined"] = result.undefined
    return entry


def group(result: GroupResult) -> dict[str, Any]:
    """A group's n, statuses and rates; its comparisons only where judged (not for insufficient data)."""
    return {
        "n": result.n,
        "status": dict(result.status),
        "rates": {name: estimate(rate) for name, rate in result.rates.items()},
        **{f"vs_{against}": {metric: judged(r) for metric, r in metrics.items()}
           for against, metrics in result.comparisons.items()
           if result.status[against] != "insufficient_data"},
    }


def outcome(result: OutcomeResult) -> dict[str, Any]:
    return {
        "interval_level": {against: number(level.value) for against, level in result.levels.items()},
        "interval_resolution": {against: {"family_size": level.family_size, "resamples": level.resamples,
                                          "at_ceiling": level.at_ceiling}
                                for against, level in result.levels.items()},
        "theil_index": estimate(result.theil_index),
        "between_group_theil_index": estimate(result.between_group_theil_index),
        "groups": {name: group(g) for name, g in result.groups.items()},
    }


def partition(result: PartitionResult) -> dict[str, Any]:
    groups = next(iter(result.outcomes.values())).groups
    return {
        "attributes": list(result.attributes),
        "reference": result.reference,
        "reference_reason": result.reference_reason,
        "groups": {name: {"n_train": result.train_sizes.get(name, 0), "n_test": g.n} for name, g in groups.items()},
        "outcomes": {name: outcome(o) for name, o in result.outcomes.items()},
    }


def per_label(results: Mapping[str, LabelPerformance]) -> dict[str, Any]:
    """Per label, in the audit's label order: its n and each score with its interval."""
    return {label: {"n": r.n, **{score: estimate(e) for score, e in r.scores.items()}} for label, r in results.items()}
