"""Prediction tables with a planted cohort: the ground truth discovery is validated on.

Attributes are drawn as the project's synthetic data draws them (``data.synthetic``: race
uniform over FairFace's 7, gender over 2, age with FairFace's shares), plus FairFace's
``service_test`` flag (uniform) as an extra metadata column that carries no bias; the target
is an independent binary label at base rate 0.5 (``no``/``yes``, ``yes`` favourable). Every
prediction is wrong with probability ``BASE_ERROR``; inside the planted cohort a correct
prediction is flipped with probability Δ / (1 − BASE_ERROR), so the cohort's error rate is
BASE_ERROR + Δ whatever the label: its error, false negative and false positive rates all
exceed the rest's by Δ.

Because attributes are independent and the error depends on membership only, every
cohort's true gap has a closed form (``true_gap``): Δ (P(plant | C) − P(plant | not C)).
``tests/test_discover_simulate.py`` checks it against a fresh 200,000-row sample.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from fairvision.data.synthetic import AGE_PROBABILITIES
from fairvision.discover.cohorts import Cohort
from fairvision.params import ATTRIBUTE_VALUES

BASE_ERROR = 0.15
BASE_RATE = 0.5
LABELS = ("no", "yes")
FAVORABLE = "yes"
SHARES: dict[str, dict[str, float]] = {
    "race": {v: 1 / len(ATTRIBUTE_VALUES["race"]) for v in ATTRIBUTE_VALUES["race"]},
    "gender": {v: 1 / len(ATTRIBUTE_VALUES["gender"]) for v in ATTRIBUTE_VALUES["gender"]},
    "age": dict(zip(ATTRIBUTE_VALUES["age"], AGE_PROBABILITIES)),
    "service_test": {"True": 0.5, "False": 0.5},
}
PROTECTED = ("race", "gender", "age")
ATTRIBUTES = (*PROTECTED, "service_test")
_SIMPLE_GAPS = ("error_rate_difference", "false_negative_rate_difference", "false_positive_rate_difference")

# One planted cohort per prevalence of the study, as close as the attributes' shares allow.
PLANTS: dict[str, Cohort] = {
    "1%": Cohort.of(ATTRIBUTES, race="Black", gender="Female", age="3-9"),  # 0.86 %
    "2%": Cohort.of(ATTRIBUTES, race="Black", gender="Female", age="20-29"),  # 2.14 %
    "5%": Cohort.of(ATTRIBUTES, gender="Female", age="10-19"),  # 5.5 %
    "10%": Cohort.of(ATTRIBUTES, gender="Male", age="30-39"),  # 11 %
}


@dataclasses.dataclass(frozen=True)
class Plant:
    """A cohort whose error rate is higher by ``gap`` (None cohort or 0 gap: no bias anywhere)."""

    cohort: Cohort | None
    gap: float

    def draw(self, rows: int, seed: int | tuple[int, ...]) -> pd.DataFrame:
        """A fresh prediction table ``id, label, pred, race, gender, age, service_test``."""
        rng = np.random.default_rng(seed)
        table: dict[str, np.ndarray | list[str]] = {"id": [f"sim/{i}" for i in range(rows)]}
        for attribute in ATTRIBUTES:
            values, shares = zip(*SHARES[attribute].items())
            table[attribute] = np.asarray(values, dtype=object)[rng.choice(len(values), size=rows, p=shares)]
        frame = pd.DataFrame(table)
        truth = rng.random(rows) < BASE_RATE
        error = np.full(rows, BASE_ERROR)
        if self.cohort is not None and self.gap:
            error[self.cohort.covers_rows(frame)] += self.gap
        wrong = rng.random(rows) < error
        frame["label"] = np.where(truth, LABELS[1], LABELS[0])
        frame["pred"] = np.where(truth ^ wrong, LABELS[1], LABELS[0])
        return frame

    def true_gap(self, cohort: Cohort, metric: str = "error_rate_difference") -> float:
        """The population gap of ``cohort`` to its complement (each of the simple gaps is the same)."""
        if metric not in _SIMPLE_GAPS:
            raise ValueError(f"the plant's closed form covers {', '.join(_SIMPLE_GAPS)}, not {metric}")
        if self.cohort is None or not self.gap:
            return 0.0
        inside = share(cohort)
        both = share(intersect(cohort, self.cohort))
        planted = share(self.cohort)
        if inside <= 0 or inside >= 1:
            return float("nan")
        return self.gap * (both / inside - (planted - both) / (1 - inside))


def share(cohort: Cohort, shares: Mapping[str, Mapping[str, float]] = SHARES) -> float:
    """The population share of ``cohort``: attributes are independent, so a product of value shares."""
    return float(np.prod([sum(shares[a][v] for v in values) for a, values in cohort.conditions]))


def intersect(a: Cohort, b: Cohort) -> Cohort:
    """The rows in both cohorts, as one cohort (an attribute both restrict keeps the common values)."""
    merged: dict[str, set[str]] = {}
    for attribute, values in (*a.conditions, *b.conditions):
        merged[attribute] = merged[attribute] & set(values) if attribute in merged else set(values)
    return Cohort(tuple((x, tuple(sorted(merged[x]))) for x in ATTRIBUTES if x in merged))


EMBEDDING_WIDTH = 64  # a small CNN's penultimate layer
HIDDEN_SHIFT = 2.5  # how far the hidden cohort sits along its own axes, in noise standard deviations
HIDDEN_AXES = 4


@dataclasses.dataclass(frozen=True)
class HiddenPlant:
    """A cohort no column names, visible only in the embeddings, whose error rate is higher by ``gap``.

    The embeddings are shaped like a trained model's penultimate layer as the searches see it:
    Gaussian noise in which the predicted class and the race each move a row along their own
    axes (a model's embeddings separate what it predicts, and often what a face looks like),
    and the hidden cohort (``prevalence`` of the rows, independent of every column) along its
    own. Errors are ``Plant``'s: BASE_ERROR everywhere, plus ``gap`` inside the hidden cohort,
    so on the null (gap 0) no region of the embeddings is failed more than another, although
    regions differ in what the model predicts.
    """

    prevalence: float
    gap: float

    def draw(self, rows: int, seed: int | tuple[int, ...]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """A fresh table (as ``Plant.draw``), its embeddings ``(rows, EMBEDDING_WIDTH)`` and the hidden mask."""
        rng = np.random.default_rng(seed)
        frame = Plant(None, 0.0).draw(rows, rng.integers(2**63))
        hidden = rng.random(rows) < self.prevalence
        flip = rng.random(rows) < self.gap / (1 - BASE_ERROR)
        correct = (frame["label"] == frame["pred"]).to_numpy()
        flipped = hidden & correct & flip
        frame.loc[flipped, "pred"] = np.where(frame.loc[flipped, "label"] == LABELS[1], LABELS[0], LABELS[1])
        embeddings = rng.normal(size=(rows, EMBEDDING_WIDTH))
        embeddings[:, HIDDEN_AXES] += 2.0 * (frame["pred"] == FAVORABLE).to_numpy()
        races = list(SHARES["race"])
        embeddings[:, HIDDEN_AXES + 1] += frame["race"].map({r: i / len(races) for i, r in enumerate(races)}).to_numpy()
        embeddings[:, :HIDDEN_AXES] += HIDDEN_SHIFT * hidden[:, None]
        return frame, embeddings, hidden

    def error_probability(self, hidden: np.ndarray) -> np.ndarray:
        """Each row's chance of a wrong prediction: what a cohort's true error rate averages."""
        return BASE_ERROR + self.gap * np.asarray(hidden, np.float64)
