"""Prediction tables with known per-group error rates: the ground truth the audit is validated on.

Used by the tests (false-alarm and detection rates) and by ``scripts/detection_power.py``
(the power table in the README). Each group's rows get a true label with probability
``base_rate`` of the first label, and a prediction that is wrong with the group's error
rate, independently of the label, so the group's true error-rate gap to another group is
exactly the difference of their configured rates.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd


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
