"""Per-label performance (audit/performance.py): hand-computed scores, undefined ones, intervals, scikit-learn.

The audit stage's per_label section and its typed reader are tested in test_audit.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairvision.audit.bootstrap import stratified_resample
from fairvision.audit.performance import SCORES, label_scores, per_label

LABELS = ["A", "B", "C", "D"]
# (true, predicted): A is right 2 of 3 times and predicted 3 times; C is never predicted; D never occurs.
ROWS = [("A", "A"), ("A", "A"), ("A", "B"), ("B", "A"), ("B", "B"), ("B", "B"), ("B", "B"), ("C", "B")]
CONFUSION = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
for true, predicted in ROWS:
    CONFUSION[LABELS.index(true), LABELS.index(predicted)] += 1
EXPECTED = {  # label -> (n, precision, recall, F1); None where 0/0
    "A": (3, 2 / 3, 2 / 3, 2 / 3),
    "B": (4, 3 / 5, 3 / 4, 2 * 3 / (2 * 3 + 2 + 1)),
    "C": (1, None, 0.0, 0.0),
    "D": (0, None, None, None),
}


def replicates(resamples: int, seed: int) -> np.ndarray:
    """The audit's draw for a table with no protected attribute: one stratum, the whole test split."""
    return stratified_resample(CONFUSION[np.newaxis], resamples, np.random.default_rng(seed))[:, 0]


def _value(x: float) -> float | None:
    return None if math.isnan(x) else x


def test_hand_computed_scores_and_undefined_ones() -> None:
    result = per_label(CONFUSION, replicates(200, 0), LABELS, level=0.95)
    assert list(result) == LABELS
    for label, (n, *scores) in EXPECTED.items():
        got = result[label]
        assert got.n == n
        assert [_value(got.scores[score].value) for score in SCORES] == pytest.approx(scores), label


def test_intervals_hold_the_point_and_a_never_defined_score_has_none() -> None:
    result = per_label(CONFUSION, replicates(500, 3), LABELS, level=0.9)
    b = result["B"].scores
    for score in SCORES:
        assert b[score].low <= b[score].value <= b[score].high
        assert b[score].low < b[score].high  # B's counts do vary across replicates
    assert all(math.isnan(x) for x in (result["D"].scores["f1"].low, result["D"].scores["f1"].high))
    assert (result["C"].scores["recall"].low, result["C"].scores["recall"].high) == (0.0, 0.0)


def test_same_seed_same_intervals_other_seed_other_intervals() -> None:
    def bounds(seed: int) -> list[float]:
        result = per_label(CONFUSION, replicates(100, seed), LABELS, level=0.95)
        return [result["B"].scores[s].low for s in SCORES]
    assert bounds(1) == bounds(1) and bounds(1) != bounds(2)


def test_vectorised_scores_equal_one_replicate_at_a_time() -> None:
    replicates = np.random.default_rng(0).integers(0, 5, size=(7, 3, 3))
    together = label_scores(replicates)
    for r, confusion in enumerate(replicates):
        alone = label_scores(confusion)
        for score in SCORES:
            np.testing.assert_array_equal(together[score][r], alone[score])


def test_scores_agree_with_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    labels = ["x", "y", "z", "never"]
    truth, predicted = rng.choice(labels[:3], 300), rng.choice(labels[:3], 300, p=[0.7, 0.3, 0.0])
    confusion = metrics.confusion_matrix(truth, predicted, labels=labels)
    ours = label_scores(confusion)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=np.nan)
    np.testing.assert_allclose(ours["precision"], precision, equal_nan=True)
    np.testing.assert_allclose(ours["recall"], recall, equal_nan=True)
    np.testing.assert_allclose(ours["f1"], f1, equal_nan=True)
    np.testing.assert_array_equal(confusion.sum(axis=1), support)
