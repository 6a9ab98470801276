"""What counts as the favourable outcome when the target has any number of classes.

AIF360 compares groups on a binary outcome. A multiclass target (race, age) gives two
documented framings, both audited: **one-vs-rest** for a class (favourable = "is / is
predicted as this class"), and **prediction correct** (favourable = "the model got it
right"; every image deserves it, so its base rate is 1, its selection rate is the accuracy,
and only the parity metrics built on those apply). A binary target (gender) has one
one-vs-rest framing, for the favourable label, since the other class's is its mirror.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fairvision.audit.measures import COMPARISONS

CORRECT = "correct"
# With no actual negatives, FPR/TNR-based metrics are undefined by construction; these remain.
CORRECT_METRICS = ("statistical_parity_difference", "disparate_impact", "error_rate_difference", "error_rate_ratio")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A binary framing of the target: ``label`` is a class for one-vs-rest, None for "prediction correct"."""

    name: str
    label: str | None
    description: str

    @property
    def metrics(self) -> tuple[str, ...]:
        return CORRECT_METRICS if self.label is None else tuple(COMPARISONS)

    def cells(self, confusion: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """Binary cells (TP, FP, FN, TN) from confusion counts shaped ``(..., K, K)`` -> ``(..., 4)``."""
        if confusion.shape[-1] == 2:  # two labels: every cell is one confusion cell (one gather, no sums)
            return self._binary_cells(confusion, labels)
        total = confusion.sum(axis=(-2, -1))
        if self.label is None:
            correct = np.trace(confusion, axis1=-2, axis2=-1)
            zeros = np.zeros_like(correct)
            return np.stack([correct, zeros, total - correct, zeros], axis=-1)
        k = list(labels).index(self.label)
        tp = confusion[..., k, k]
        fn = confusion[..., k, :].sum(axis=-1) - tp
        fp = confusion[..., :, k].sum(axis=-1) - tp
        return np.stack([tp, fp, fn, total - tp - fn - fp], axis=-1)

    def _binary_cells(self, confusion: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        flat = confusion.reshape(*confusion.shape[:-2], 4)  # (truth, prediction): 00, 01, 10, 11
        if self.label is None:  # correct (00 + 11) as TP, wrong (01 + 10) as FN
            out = np.zeros_like(flat)
            out[..., 0] = flat[..., 0] + flat[..., 3]
            out[..., 2] = flat[..., 1] + flat[..., 2]
            return out
        k = list(labels).index(self.label)
        # TP = (k, k), FP = (other, k), FN = (k, other), TN = (other, other)
        return flat[..., [0, 2, 1, 3] if k == 0 else [3, 1, 2, 0]]


def outcomes_for(labels: Sequence[str], favorable: str) -> tuple[Outcome, ...]:
    """The favourable label first (the report's headline), then "correct", then the other classes if multiclass."""
    def one_vs_rest(label: str) -> Outcome:
        return Outcome(label, label, f"true or predicted “{label}” against every other class")

    correct = Outcome(CORRECT, None, "the prediction is correct (favourable for every image)")
    others = [one_vs_rest(label) for label in labels if label != favorable] if len(labels) > 2 else []
    return (one_vs_rest(favorable), correct, *others)
