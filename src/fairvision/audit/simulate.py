"""Prediction tables with known per-group error rates: the ground truth the audit is validated on.

Used by the tests (false-alarm and detection rates) and by ``scripts/detection_power.py``
(the power table in the README). Each group's rows get a true label with probability
``base_rate`` of the first label, and a prediction that is wrong with the group's error
rate, independently of the label, so the group's true error-rate gap to another group is
exactly the difference of their configured rates.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fairvision.audit.engine import Settings, audit_partition
from fairvision.audit.outcomes import outcomes_for
from fairvision.audit.partitions import build_partition


def simulate_predictions(
    group_sizes: Mapping[str, int],
    error_rates: Mapping[str, float],
    *,
    attribute: str = "race",
    labels: Sequence[str] = ("Female", "Male"),
    base_rate: float = 0.5,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows ``id, label, pred, <attribute>`` for groups of the given sizes and true error rates."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(list(group_sizes), list(group_sizes.values()))
    error = np.array([error_rates[g] for g in groups])
    n = len(groups)
    first = rng.random(n) < base_rate
    truth = np.where(first, 0, rng.integers(1, len(labels), n)) if len(labels) > 2 else (~first).astype(int)
    wrong = rng.random(n) < error
    shift = rng.integers(1, len(labels), n)  # a wrong prediction is any other label
    predicted = np.where(wrong, (truth + shift) % len(labels), truth)
    names = np.asarray(labels)
    return pd.DataFrame({"id": [f"sim/{i}" for i in range(n)], "label": names[truth], "pred": names[predicted],
                         attribute: groups})


def simulated_verdicts(
    group_sizes: Mapping[str, int],
    error_rates: Mapping[str, float],
    settings: Settings,
    *,
    runs: int,
    seed: int = 0,
    reference: str | None = None,
    labels: Sequence[str] = ("Female", "Male"),
) -> Counter[tuple[str, str, str]]:
    """How often each (group, metric, verdict) against the reference occurs over ``runs`` simulated tables.

    The engine alone (no AIF360 cross-check), one fresh table and bootstrap stream per run.
    """
    reference = reference or next(iter(group_sizes))
    outcomes = outcomes_for(labels, labels[0])
    tally: Counter[tuple[str, str, str]] = Counter()
    for run in range(runs):
        table = simulate_predictions(group_sizes, error_rates, labels=labels, seed=seed * 100_003 + run)
        partition = build_partition(table, ["race"], labels)
        run_settings = dataclasses.replace(settings, seed=seed * 100_003 + run)
        result = audit_partition(partition, outcomes[:1], reference, "simulation", {}, run_settings)
        for name, group in result.outcomes[outcomes[0].name].groups.items():
            for metric, judged in group.comparisons.get("reference", {}).items():
                tally[name, metric, judged.verdict] += 1
    return tally
