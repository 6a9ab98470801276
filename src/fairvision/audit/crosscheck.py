"""Recount the published numbers from the prediction rows, by a second route, before they are written.

The engine counts confusion cells with one ``bincount`` over codes (fast, and what the
bootstrap needs). Here every group's size and binary cells are recounted with a pandas
group-by over the rows' own values, and every published rate and comparison is recomputed
from those cells, so a coding, ordering or grouping slip cannot reach a report. The
formulas themselves are AIF360's, checked against AIF360 row by row in the tests
(``tests/test_aif360_agreement.py``): importing AIF360 loads TensorFlow (~15 s), too slow to
pay at every audit. A mismatch is a bug, and the stage stops rather than publish a wrong number.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from fairvision.audit.engine import PartitionResult
from fairvision.audit.measures import CELLS, RATES, compare, group_rates
from fairvision.audit.outcomes import Outcome
from fairvision.audit.partitions import Partition
from fairvision.audit.vocabulary import SEPARATOR

TOLERANCE = 1e-9


class CrossCheckError(AssertionError):
    """The engine and the recount disagree: a bug in fairvision, never the user's input."""


def binary_outcome(predictions: pd.DataFrame, outcome: Outcome) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is the outcome favourable in truth, and in the prediction."""
    if outcome.label is None:
        return np.ones(len(predictions), dtype=bool), (predictions["label"] == predictions["pred"]).to_numpy(bool)
    return (predictions["label"] == outcome.label).to_numpy(bool), (predictions["pred"] == outcome.label).to_numpy(bool)


def recount(predictions: pd.DataFrame, attributes: Sequence[str], outcome: Outcome) -> pd.DataFrame:
    """Binary cells per group, counted by pandas: index = group name, columns = TP, FP, FN, TN."""
    truth, predicted = binary_outcome(predictions, outcome)
    keys = predictions[attributes[0]].astype(str)
    for attribute in attributes[1:]:
        keys = keys.str.cat(predictions[attribute].astype(str), sep=SEPARATOR)
    frame = pd.DataFrame({"group": keys.to_numpy(),
                          "TP": truth & predicted, "FP": ~truth & predicted,
                          "FN": truth & ~predicted, "TN": ~truth & ~predicted})
    return frame.groupby("group", sort=False)[list(CELLS)].sum()


def crosscheck(
    predictions: pd.DataFrame, partition: Partition, outcomes: Sequence[Outcome], result: PartitionResult,
    seeds: int = 1,
) -> None:
    """Raise CrossCheckError if any group's n, rate or comparison differs from the recount.

    ``predictions`` may stack ``seeds`` seeds' tables of the same images: the audit of several
    seeds publishes their mean counts, so the recount is divided by ``seeds``.
    """
    for outcome in outcomes:
        cells = recount(predictions, partition.attributes, outcome).reindex(partition.groups, fill_value=0)
        counts = cells.to_numpy(np.float64) / seeds
        table = result.outcomes[outcome.name].groups
        rates = group_rates(counts)
        reference = counts[partition.groups.index(result.reference)]
        expected = {"reference": compare(counts, reference, outcome.metrics),
                    "rest": compare(counts, counts.sum(axis=0) - counts, outcome.metrics)}
        for g, name in enumerate(partition.groups):
            group = table[name]
            n = round(float(counts[g].sum()))
            wrong = [] if group.n == n else [f"n: recount {n}, engine {group.n}"]
            wrong += [f"{rate}: recount {rates[rate][g]!r}, engine {group.rates[rate].value!r}"
                      for rate in RATES if not _same(rates[rate][g], group.rates[rate].value)]
            for against, metrics in group.comparisons.items():
                wrong += [f"{metric} vs {against}: recount {expected[against][g, m]!r}, engine {judged.aif360_value!r}"
                          for m, (metric, judged) in enumerate(metrics.items())
                          if not _same(expected[against][g, m], judged.aif360_value)]
            if wrong:
                raise CrossCheckError(f"{partition.name} = {name}, outcome {outcome.name}: " + "; ".join(wrong))


def _same(expected: float, got: float) -> bool:
    expected, got = float(expected), float(got)
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    return expected == got or abs(expected - got) <= TOLERANCE
