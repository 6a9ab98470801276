"""Per-label performance (precision, recall, F1 with bootstrap intervals): reported for every dataset.

Group fairness needs protected attributes; a dataset may have none. How well the model
recognises each label needs only the prediction table, so the audit always reports it,
and a reader sees a label the model neglects even when no group can be compared. All three
scores come from the confusion counts (true × predicted label), so the point values and
every bootstrap replicate share one vectorised formula. The replicates are the audit's own
(its finest-group draw, pooled), so per-label and per-group intervals rest on the same
resampled rows.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from fairvision.audit.engine import Estimate
from fairvision.statistics import percentile_intervals

SCORES = ("precision", "recall", "f1")


@dataclasses.dataclass(frozen=True)
class LabelPerformance:
    """One label: its test images (true label) and each score of ``SCORES`` with its interval (NaN where 0/0)."""

    n: int
    scores: Mapping[str, Estimate]


def label_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of every label from counts ``(..., K, K)`` (true × predicted) -> ``(..., K)`` each.

    F1 is ``2 TP / (2 TP + FP + FN)``, which equals the harmonic mean of precision and recall
    where both are defined and stays defined (0) for a label never predicted but present.
    0/0 (a label neither present nor predicted, or never predicted for precision) is NaN.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diagonal(confusion, axis1=-2, axis2=-1)
    actual, predicted = confusion.sum(axis=-1), confusion.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"precision": hits / predicted, "recall": hits / actual, "f1": 2 * hits / (actual + predicted)}


def per_label(
    confusion: np.ndarray, replicates: np.ndarray, labels: Sequence[str], *, level: float
) -> dict[str, LabelPerformance]:
    """Every label's n and scores with percentile intervals at ``level``, in the order of ``labels``.

    Args:
        confusion: test counts ``(K, K)``, true label × predicted label, in the order of ``labels``.
        replicates: the audit's bootstrap replicates of the same counts ``(R, K, K)`` (its finest draw,
            pooled), so these intervals come from the same resampled rows as every group's.
        labels: the label names.
        level: the intervals' level; a replicate where a score is 0/0 is left out of its interval.

    Returns:
        Label -> its ``LabelPerformance``.
    """
    points, samples = label_scores(confusion), label_scores(replicates)
    stacked = np.stack([samples[score] for score in SCORES], axis=-1)  # (R, K, scores)
    bounds = percentile_intervals(stacked.reshape(len(replicates), -1), level).reshape(len(labels), len(SCORES), 2)
    sizes = confusion.sum(axis=1)
    return {
        label: LabelPerformance(round(float(sizes[k])),  # several seeds' mean counts: a whole number up to rounding
                                {score: Estimate(float(points[score][k]), *map(float, bounds[k, s]))
                                 for s, score in enumerate(SCORES)})
        for k, label in enumerate(labels)
    }
