"""The gaps discovery tests, as events over a denominator: AIF360's difference metrics, read from ``measures``.

Each gap is a cohort's rate minus its complement's, for a rate where higher means the model
fails the cohort more (errors, missed favourable labels, wrongly granted ones, ...). One
side's rate is ``events / total``, both sums of confusion cells, so a gap and its exact test
come from two counts per side (``fairvision.discover.fisher``) and any cohort's counts are
sums over the finest cells it covers. The rates' cell definitions are the audit's own
(``audit.measures.RATES``, checked against AIF360), so the numbers agree with the audit's.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fairvision.audit.measures import CELLS, COMPARISONS, RATES
from fairvision.audit.outcomes import CORRECT, Outcome


@dataclasses.dataclass(frozen=True)
class Gap:
    """A difference metric of ``COMPARISONS`` over one rate; ``correct``: read in the "prediction correct" framing.

    The error rate is every wrong prediction over every image whatever the number of classes,
    which is the "correct" framing's false negative rate; the others are one-vs-rest rates of
    the favourable label.
    """

    metric: str
    rate: str
    correct: bool = False

    @property
    def title(self) -> str:
        return COMPARISONS[self.metric].title

    def events_and_totals(self, confusion: np.ndarray, labels: Sequence[str], favorable: str) -> np.ndarray:
        """``(..., 2)`` events and totals of the rate from confusion counts ``(..., K, K)``."""
        outcome = Outcome(CORRECT, None, "") if self.correct else Outcome(favorable, favorable, "")
        cells = outcome.cells(np.asarray(confusion), labels)
        rate = RATES["false_negative_rate" if self.correct else self.rate]
        index = {cell: i for i, cell in enumerate(CELLS)}
        events = sum(cells[..., index[c]] for c in rate.numerator)
        totals = sum(cells[..., index[c]] for c in rate.denominator)
        return np.stack([events, totals], axis=-1)


GAPS: dict[str, Gap] = {
    "error_rate_difference": Gap("error_rate_difference", "error_rate", correct=True),
    "false_negative_rate_difference": Gap("false_negative_rate_difference", "false_negative_rate"),
    "false_positive_rate_difference": Gap("false_positive_rate_difference", "false_positive_rate"),
    "false_discovery_rate_difference": Gap("false_discovery_rate_difference", "false_discovery_rate"),
    "false_omission_rate_difference": Gap("false_omission_rate_difference", "false_omission_rate"),
}
