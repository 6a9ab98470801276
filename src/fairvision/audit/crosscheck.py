"""Check the published point estimates against AIF360 computed from the rows themselves.

The engine computes from confusion counts (fast, and what the bootstrap needs); AIF360 is
the definition of record. Before fairness.json is written, every comparison against the
reference group is recomputed by AIF360's ``ClassificationMetric`` from the prediction
rows, so a counting or formula slip cannot reach a report. A mismatch is a bug, and the
stage stops rather than publish a wrong number.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from fairvision.audit import aif360_reference as aif360
from fairvision.audit.engine import PartitionResult
from fairvision.audit.outcomes import Outcome
from fairvision.audit.partitions import Partition, category_codes, group_keys

TOLERANCE = 1e-9


class CrossCheckError(AssertionError):
    """The engine and AIF360 disagree: a bug in fairvision, never the user's input."""


def binary_outcome(predictions: pd.DataFrame, outcome: Outcome) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is the outcome favourable in truth, and in the prediction."""
    if outcome.label is None:
        return np.ones(len(predictions), dtype=int), (predictions["label"] == predictions["pred"]).to_numpy(int)
    return (predictions["label"] == outcome.label).to_numpy(int), (predictions["pred"] == outcome.label).to_numpy(int)


def crosscheck(
    predictions: pd.DataFrame, partition: Partition, outcomes: Sequence[Outcome], result: PartitionResult
) -> None:
    """Raise CrossCheckError if any point estimate against the reference group differs from AIF360's."""
    codes = category_codes(group_keys(predictions, partition.attributes), partition.groups)
    reference = partition.groups.index(result.reference)
    present = set(codes.tolist())
    for outcome in outcomes:
        truth, predicted = binary_outcome(predictions, outcome)
        dataset, classified = aif360.binary_datasets(codes, truth, predicted)
        groups = result.outcomes[outcome.name].groups
        for g, name in enumerate(partition.groups):
            if g == reference or g not in present or reference not in present:
                continue
            expected = aif360.comparison_values(dataset, classified, g, [reference], outcome.metrics)
            got = {metric: judged.value for metric, judged in groups[name].comparisons["reference"].items()}
            wrong = list(aif360.mismatches(expected, got, TOLERANCE))
            if wrong:
                raise CrossCheckError(f"{partition.name} = {name}, outcome {outcome.name}: " + "; ".join(wrong))
