"""AIF360's classification metrics as vectorised functions of confusion cells.

Every metric AIF360's ``ClassificationMetric`` reports for a binary outcome is a function of
each group's four cells (true positives, false positives, false negatives, true negatives),
so one array of cells, shaped ``(..., 4)``, yields the point estimate (no leading axis) and
every bootstrap replicate (a leading resample axis) with the same code. The definitions
follow AIF360 0.6.1 term by term; ``tests/test_measures.py`` checks them against AIF360 on
random tables to 1e-9.

Two tables drive everything: ``RATES`` (one group's rates, each a share of cells over a sum
of cells) and ``COMPARISONS`` (a group against another group, each a difference with
parity at 0 or a ratio with parity at 1). Verdicts, intervals and the report read the kind
from the table; no code branches on a metric's name.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Literal, Mapping

import numpy as np

from fairvision.audit.exact import exact_bounds

CELLS = ("TP", "FP", "FN", "TN")
_INDEX = {cell: i for i, cell in enumerate(CELLS)}
Kind = Literal["difference", "ratio"]


@dataclasses.dataclass(frozen=True)
class Rate:
    """A share of a group's cells: ``numerator / denominator``, both sums of cells."""

    title: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    population: str  # what the denominator counts, for "undefined" reasons
    empty: float = math.nan  # AIF360's value for an empty denominator: 0 for PPV, NPV, FDR, FOR, accuracy

    def __call__(self, cells: np.ndarray, *, strict: bool = False) -> np.ndarray:
        """The rate; an empty denominator gives AIF360's convention, or NaN when ``strict``."""
        return self.from_sums(_sum(cells, self.numerator), _sum(cells, self.denominator), strict=strict)

    def from_sums(self, numerator: np.ndarray, denominator: np.ndarray, *, strict: bool) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = numerator / denominator
        return rate if strict or math.isnan(self.empty) else np.where(denominator == 0, self.empty, rate)


def _sum(cells: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The sum of the named cells, in the cells' float precision (float64 for counts).

    Replicates arrive as float32 (counts below 2^24 are exact in it): half the memory traffic.
    """
    cells = _floating(cells)
    total = cells[..., _INDEX[names[0]]]
    for name in names[1:]:
        total = total + cells[..., _INDEX[name]]
    return total


def _floating(cells: np.ndarray) -> np.ndarray:
    cells = np.asarray(cells)
    return cells if cells.dtype in (np.float32, np.float64) else cells.astype(np.float64)


_ALL = CELLS
_POSITIVES, _NEGATIVES = ("TP", "FN"), ("FP", "TN")
_PREDICTED_POSITIVE, _PREDICTED_NEGATIVE = ("TP", "FP"), ("FN", "TN")

RATES: dict[str, Rate] = {
    "base_rate": Rate("Base rate", _POSITIVES, _ALL, "images"),
    "selection_rate": Rate("Selection rate", _PREDICTED_POSITIVE, _ALL, "images"),
    "accuracy": Rate("Accuracy", ("TP", "TN"), _ALL, "images", 0.0),
    "error_rate": Rate("Error rate", ("FP", "FN"), _ALL, "images"),
    "true_positive_rate": Rate("True positive rate", ("TP",), _POSITIVES, "actual positives"),
    "false_negative_rate": Rate("False negative rate", ("FN",), _POSITIVES, "actual positives"),
    "false_positive_rate": Rate("False positive rate", ("FP",), _NEGATIVES, "actual negatives"),
    "true_negative_rate": Rate("True negative rate", ("TN",), _NEGATIVES, "actual negatives"),
    "positive_predictive_value": Rate("Positive predictive value", ("TP",), _PREDICTED_POSITIVE,
                                      "predicted positives", 0.0),
    "false_discovery_rate": Rate("False discovery rate", ("FP",), _PREDICTED_POSITIVE, "predicted positives", 0.0),
    "negative_predictive_value": Rate("Negative predictive value", ("TN",), _PREDICTED_NEGATIVE,
                                      "predicted negatives", 0.0),
    "false_omission_rate": Rate("False omission rate", ("FN",), _PREDICTED_NEGATIVE, "predicted negatives", 0.0),
}

Rates = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A metric of a group against another (the reference group, or everyone else).

    ``rates`` names the group rates it is built from, so an undefined value can say which
    rate had an empty denominator; ``compute`` takes both sides' rates.
    """

    title: str
    short: str
    kind: Kind
    rates: tuple[str, ...]
    compute: Callable[[Rates, Rates], np.ndarray]

    @property
    def parity(self) -> float:
        return 0.0 if self.kind == "difference" else 1.0


def _difference(rate: str) -> Callable[[Rates, Rates], np.ndarray]:
    return lambda group, other: group[rate] - other[rate]


def _ratio(rate: str) -> Callable[[Rates, Rates], np.ndarray]:
    def ratio(group: Rates, other: Rates) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return group[rate] / other[rate]
    return ratio


def _odds(combine: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Rates, Rates], np.ndarray]:
    def odds(group: Rates, other: Rates) -> np.ndarray:
        fpr = group["false_positive_rate"] - other["false_positive_rate"]
        tpr = group["true_positive_rate"] - other["true_positive_rate"]
        return combine(fpr, tpr)
    return odds


def _pairwise_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """AIF360's ``max(|FPR gap|, |TPR gap|)`` with Python's ``max`` semantics: ``b`` only where ``b > a``."""
    a, b = np.abs(a), np.abs(b)
    return np.where(b > a, b, a)


_ODDS = ("true_positive_rate", "false_positive_rate")

COMPARISONS: dict[str, Comparison] = {
    "statistical_parity_difference": Comparison(
        "Statistical parity difference", "SPD", "difference", ("selection_rate",), _difference("selection_rate")),
    "disparate_impact": Comparison(
        "Disparate impact", "DI", "ratio", ("selection_rate",), _ratio("selection_rate")),
    "equal_opportunity_difference": Comparison(
        "Equal opportunity difference", "EOD", "difference", ("true_positive_rate",),
        _difference("true_positive_rate")),
    "average_odds_difference": Comparison(
        "Average odds difference", "AOD", "difference", _ODDS, _odds(lambda fpr, tpr: 0.5 * (fpr + tpr))),
    "average_abs_odds_difference": Comparison(
        "Average absolute odds difference", "AAOD", "difference", _ODDS,
        _odds(lambda fpr, tpr: 0.5 * (np.abs(fpr) + np.abs(tpr)))),
    "equalized_odds_difference": Comparison(
        "Equalized odds difference", "EqOD", "difference", _ODDS, _odds(_pairwise_max)),
    "error_rate_difference": Comparison(
        "Error rate difference", "ERD", "difference", ("error_rate",), _difference("error_rate")),
    "error_rate_ratio": Comparison("Error rate ratio", "ERR", "ratio", ("error_rate",), _ratio("error_rate")),
    "false_positive_rate_difference": Comparison(
        "False positive rate difference", "FPRD", "difference", ("false_positive_rate",),
        _difference("false_positive_rate")),
    "false_positive_rate_ratio": Comparison(
        "False positive rate ratio", "FPRR", "ratio", ("false_positive_rate",), _ratio("false_positive_rate")),
    "false_negative_rate_difference": Comparison(
        "False negative rate difference", "FNRD", "difference", ("false_negative_rate",),
        _difference("false_negative_rate")),
    "false_negative_rate_ratio": Comparison(
        "False negative rate ratio", "FNRR", "ratio", ("false_negative_rate",), _ratio("false_negative_rate")),
    "false_discovery_rate_difference": Comparison(
        "False discovery rate difference", "FDRD", "difference", ("false_discovery_rate",),
        _difference("false_discovery_rate")),
    "false_omission_rate_difference": Comparison(
        "False omission rate difference", "FORD", "difference", ("false_omission_rate",),
        _difference("false_omission_rate")),
}


def group_rates(
    cells: np.ndarray, *, strict: bool = False, names: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """Rates of ``RATES`` (all, or ``names``) for cells shaped ``(..., 4)`` (``strict``: NaN for every empty
    denominator)."""
    cells = _floating(cells)
    wanted = {name: RATES[name] for name in (RATES if names is None else names)}
    sums: dict[tuple[str, ...], np.ndarray] = {}  # each sum of cells once, however many rates share it
    for rate in wanted.values():
        for cell_names in (rate.numerator, rate.denominator):
            if cell_names not in sums:
                sums[cell_names] = _sum(cells, cell_names)
    return {name: rate.from_sums(sums[rate.numerator], sums[rate.denominator], strict=strict)
            for name, rate in wanted.items()}


def compare(
    group_cells: np.ndarray, other_cells: np.ndarray, names: tuple[str, ...], *, strict: bool = False,
    dtype: type = np.float64, axis: int = -1,
) -> np.ndarray:
    """The comparisons ``names`` of ``group_cells`` against ``other_cells``: shape ``(..., len(names))``, or with
    the metrics at ``axis``.

    Point estimates use AIF360's conventions; bootstrap replicates use ``strict`` so that a
    replicate where a metric is undefined is counted as such, not as a conventional 0.
    ``dtype`` is the result's (float32 halves the memory of many replicates; computed in float64).
    """
    needed = {rate for name in names for rate in COMPARISONS[name].rates}
    group = group_rates(group_cells, strict=strict, names=needed)
    other = group_rates(other_cells, strict=strict, names=needed)
    return np.stack([COMPARISONS[name].compute(group, other) for name in names], axis=axis, dtype=dtype)


# A rate and its complement over the same denominator carry the same information (TPR = 1 - FNR).
_CANONICAL = {"false_negative_rate": "true_positive_rate", "true_negative_rate": "false_positive_rate",
              "accuracy": "error_rate", "false_discovery_rate": "positive_predictive_value",
              "false_omission_rate": "negative_predictive_value"}


def event(name: str, *, correct: bool = False) -> frozenset[str]:
    """What comparison ``name`` judges: the rates it reads, each complement mapped to one name.

    Comparisons with the same event are twins (a difference and its ratio, EOD and the FNR
    difference): they judge the same gap, so a family counts it once. In the "correct"
    framing the selection rate is the accuracy, so SPD, DI and the error-rate metrics are twins.
    """
    rates = {_CANONICAL.get(rate, rate) for rate in COMPARISONS[name].rates}
    if correct:
        rates = {"error_rate" if rate == "selection_rate" else rate for rate in rates}
    return frozenset(rates)


def sparse_shifts(cells: np.ndarray, rate_name: str, level: float, minimum: int) -> list[np.ndarray]:
    """Cells moved to each end of a sparse rate's exact interval; empty unless the rate is sparse.

    A rate resting on fewer than ``minimum`` events or non-events (0 of 526, 2 of 40) is
    nearly the same in every bootstrap replicate, so the bootstrap understates how far the
    truth may lie from it. Its Clopper–Pearson interval at ``level`` does not. Each returned
    array holds the rate at one end of that interval (mass moved between the rate's event and
    non-event cells, the group's size kept).
    """
    rate = RATES[rate_name]
    cells = np.asarray(cells, dtype=np.float64)
    events, total = float(_sum(cells, rate.numerator)), float(_sum(cells, rate.denominator))
    if total <= 0 or min(events, total - events) >= minimum:
        return []
    non_events = tuple(c for c in rate.denominator if c not in rate.numerator)
    moved = []
    for target in exact_bounds(events, total, level):
        if target * total == events:
            continue
        shifted = cells.copy()
        for names, share, have in ((rate.numerator, target, events), (non_events, 1 - target, total - events)):
            index = [_INDEX[name] for name in names]
            if have > 0:
                shifted[index] *= share * total / have
            else:
                shifted[index[0]] = share * total
        moved.append(shifted)
    return moved


def undefined_reason(name: str, group_cells: np.ndarray, other_cells: np.ndarray, other: str) -> str | None:
    """Why comparison ``name`` is undefined for these (point) cells, in words; None when it is defined.

    Undefined also where AIF360 reports a conventional 0 (an empty denominator of PPV, FDR, …).

    ``other`` names the other side ("the reference group", "the rest").
    """
    comparison = COMPARISONS[name]
    for rate_name in comparison.rates:
        rate = RATES[rate_name]
        for cells, who in ((group_cells, "the group"), (other_cells, other)):
            if _sum(cells, rate.denominator) == 0:
                return f"{who} has no {rate.population}, so its {rate.title.lower()} is undefined"
        if comparison.kind == "ratio" and rate(other_cells) == 0:
            infinite = rate(group_cells) > 0
            return (f"{other}'s {rate.title.lower()} is 0, so the ratio is "
                    f"{'infinite' if infinite else 'undefined (0/0)'}")
    return None


def fewest_events(group_cells: np.ndarray, other_cells: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Per comparison, the fewest images on either side of any rate it uses (events or non-events), both groups.

    A bootstrap cannot resample an event it never saw: a group with 0 false positives gets an
    FPR of exactly 0 in every replicate, an interval [0, 0] however few negatives it has. Below
    a handful on either side of a rate, its interval is not to be trusted. Shape ``(..., len(names))``.
    """
    thinnest = {}  # per rate: fewer of events and non-events, over both groups
    for rate_name in {rate for name in names for rate in COMPARISONS[name].rates}:
        rate = RATES[rate_name]
        sides = []
        for cells in (group_cells, other_cells):
            events, total = _sum(cells, rate.numerator), _sum(cells, rate.denominator)
            sides.append(np.minimum(events, total - events))
        thinnest[rate_name] = np.minimum(*np.broadcast_arrays(*sides))
    return np.stack([np.minimum.reduce([thinnest[rate] for rate in COMPARISONS[name].rates]) for name in names],
                    axis=-1)


def sparse_reason(name: str, group_cells: np.ndarray, other_cells: np.ndarray, other: str, minimum: int) -> str:
    """Which rate of comparison ``name`` rests on fewer than ``minimum`` events or non-events, in words."""
    for rate_name in COMPARISONS[name].rates:
        rate = RATES[rate_name]
        for cells, who in ((group_cells, "the group"), (other_cells, other)):
            events, total = float(_sum(cells, rate.numerator)), float(_sum(cells, rate.denominator))
            if min(events, total - events) < minimum:
                return (f"{who}'s {rate.title.lower()} rests on {events:.0f} of {total:.0f} {rate.population}; "
                        f"at least {minimum} on each side are needed for a trustworthy interval")
    raise ValueError(f"{name} has enough events")


def theil_index(cells: np.ndarray) -> np.ndarray:
    """AIF360's Theil index (generalized entropy, alpha = 1) of the benefit b = y_pred - y_true + 1.

    Over all of ``cells``' groups: shape ``(..., G, 4)`` -> ``(...)``. b is 1 for TP and TN,
    2 for FP and 0 for FN (0 ln 0 = 0), so the index is a function of the pooled cells.
    """
    pooled = cells.sum(axis=-2).astype(np.float64)
    n = pooled.sum(axis=-1)
    tp, fp, _, tn = (pooled[..., i] for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = (tp + tn + 2 * fp) / n
        return ((tp + tn) * _x_log_x(1 / mu) + fp * _x_log_x(2 / mu)) / n


def between_group_theil_index(cells: np.ndarray) -> np.ndarray:
    """Theil index when every member's benefit is replaced by their group's mean benefit.

    AIF360's between-group generalized entropy index (alpha = 1) over the groups of
    ``cells`` (shape ``(..., G, 4)``); empty groups contribute nothing.
    """
    cells = cells.astype(np.float64)
    sizes = cells.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        benefit = (cells[..., 0] + cells[..., 3] + 2 * cells[..., 1]) / sizes
        n = sizes.sum(axis=-1)
        mu = (sizes * np.nan_to_num(benefit)).sum(axis=-1) / n
        ratio = benefit / mu[..., np.newaxis]
        terms = np.where(sizes > 0, sizes * _x_log_x(ratio), 0.0)
        return terms.sum(axis=-1) / n


def _x_log_x(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(x))


def smoothed_edf(cells: np.ndarray, concentration: float = 1.0) -> np.ndarray:
    """AIF360's smoothed empirical differential fairness of the predictions, over groups ``(..., G, 4)``.

    Dirichlet-smoothed rate of favourable predictions per group, then the largest log-ratio
    between any two groups, of that rate or of its complement (Foulds et al. 2018). Empty
    groups are skipped, as AIF360 sees only the groups present.
    """
    cells = cells.astype(np.float64)
    sizes = cells.sum(axis=-1)
    favourable = cells[..., 0] + cells[..., 1]
    rate = (favourable + concentration / 2) / (sizes + concentration)
    present = sizes > 0
    spreads = []
    for values in (np.log(rate), np.log1p(-rate)):
        high = np.where(present, values, -np.inf).max(axis=-1)
        low = np.where(present, values, np.inf).min(axis=-1)
        spreads.append(high - low)
    return np.maximum(*spreads)
