"""Prediction tables drawn from a known population: the ground truth the audit is validated on.

A population is a set of finest cells (race × age for the demo), each with a size and a
truth: the base rate of the favourable label and the prediction's true- and false-positive
rates. A table draws each cell's confusion counts from its truth (a multinomial with the
cell's size fixed, which is what per-row coin flips give and what the group-stratified
bootstrap assumes) and spells them out as rows. With the sizes fixed, the true value of
every comparison of every partition is the metric on the expected confusion counts
(``true_comparisons``): the value a published interval claims to contain. The metric
definitions are the engine's own (``measures.compare``, checked against AIF360 in
``tests/test_measures.py``); what is validated here is the intervals and verdicts.

``DEMO_TEST`` and ``DEMO_TRAIN`` are the published demo's race × age cells (the synthetic
dataset's test and train splits at ``synth.seed`` 0, read from its manifest), so simulated
tables are shaped like the audit that is published and `auto` picks the same reference groups.
Binary targets only, like the demo's (gender; the first label favourable).

Used by ``fairvision.audit.validation`` (``scripts/validate_audit.py`` and
``tests/test_validation.py``), by ``scripts/detection_power.py`` (``simulated_verdicts``) and
by tests and benchmarks that need a realistic prediction table.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Mapping

import numpy as np
import pandas as pd

from fairvision.audit.bootstrap import coarsen
from fairvision.audit.engine import Settings, audit_table
from fairvision.audit.measures import compare
from fairvision.audit.outcomes import Outcome
from fairvision.audit.vocabulary import SEPARATOR

LABELS = ("Female", "Male")  # the demo's target; the first is favourable (`favorable_label: auto`)
RACES = ("White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern")
AGES = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
# Images per race (row) × age (column) of the demo's test split (3,500) and train split (4,868).
DEMO_TEST = (
    (13, 76, 42, 148, 110, 54, 32, 11, 6),
    (18, 64, 49, 140, 101, 57, 42, 15, 5),
    (8, 67, 62, 153, 116, 74, 34, 9, 3),
    (12, 47, 48, 162, 115, 71, 32, 13, 4),
    (10, 61, 57, 171, 104, 57, 40, 16, 6),
    (10, 54, 62, 149, 109, 53, 29, 6, 3),
    (8, 58, 60, 135, 122, 52, 36, 12, 7),
)
DEMO_TRAIN = (
    (18, 87, 90, 262, 166, 79, 56, 26, 3),
    (15, 93, 86, 226, 176, 102, 41, 27, 12),
    (6, 14, 20, 55, 33, 25, 16, 7, 3),
    (13, 88, 93, 245, 159, 86, 57, 26, 3),
    (18, 123, 88, 227, 176, 92, 47, 23, 9),
    (19, 101, 64, 220, 182, 95, 49, 27, 5),
    (13, 93, 89, 253, 161, 87, 62, 22, 9),
)


@dataclasses.dataclass(frozen=True)
class Truth:
    """One cell's population: how often its images carry the favourable label, and how the model predicts them."""

    base_rate: float
    true_positive_rate: float
    false_positive_rate: float

    def shares(self) -> np.ndarray:
        """Expected share of each (true label, predicted label): ``(2, 2)``, the favourable label first."""
        b, tpr, fpr = self.base_rate, self.true_positive_rate, self.false_positive_rate
        return np.array([[b * tpr, b * (1 - tpr)], [(1 - b) * fpr, (1 - b) * (1 - fpr)]])


@dataclasses.dataclass(frozen=True)
class Population:
    """Finest cells (one value per attribute each) with their test size, train size and truth."""

    attributes: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    sizes: tuple[int, ...]  # test images per cell: fixed in every table, as in the stratified bootstrap
    train_sizes: tuple[int, ...]  # train images per cell: `auto` references are the largest train groups
    truths: tuple[Truth, ...]

    def expected(self) -> np.ndarray:
        """Expected confusion counts per cell, ``(C, 2, 2)``."""
        return np.array(self.sizes, dtype=np.float64)[:, np.newaxis, np.newaxis] * np.stack(
            [truth.shares() for truth in self.truths])

    def draw(self, seed: int | tuple[int, ...]) -> pd.DataFrame:
        """A prediction table ``id, label, pred, <attributes>``: each cell's counts drawn from its truth."""
        rng = np.random.default_rng(seed)
        shares = np.stack([truth.shares().reshape(-1) for truth in self.truths])
        counts = rng.multinomial(np.array(self.sizes), shares)  # (C, 4): one vectorised call for every cell
        rows = np.repeat(np.arange(counts.size), counts.reshape(-1))
        cell, truth, predicted = rows // 4, rows % 4 // 2, rows % 2
        names = np.asarray(LABELS)
        table = {"id": [f"sim/{i}" for i in range(len(rows))], "label": names[truth], "pred": names[predicted]}
        for a, attribute in enumerate(self.attributes):
            table[attribute] = np.asarray([c[a] for c in self.cells])[cell]
        return pd.DataFrame(table)

    def train(self) -> pd.DataFrame:
        """A train table of the attributes only: what ``audit_table`` reads to pick `auto` references."""
        rows = np.repeat(np.arange(len(self.cells)), self.train_sizes)
        return pd.DataFrame({attribute: np.asarray([c[a] for c in self.cells])[rows]
                             for a, attribute in enumerate(self.attributes)})

    def spec(self) -> dict[str, Any]:
        """Everything that defines the population, as JSON (for the validation's spec hash)."""
        return {"attributes": list(self.attributes),
                "cells": [[list(cell), size, train, dataclasses.astuple(truth)]
                          for cell, size, train, truth in zip(self.cells, self.sizes, self.train_sizes, self.truths)]}


def demo_population(typical: Truth, groups: Mapping[str, Truth] | None = None, *,
                    images_per_race: int | None = None) -> Population:
    """The demo's race × age cells, each at ``typical`` except the races in ``groups`` (every age of them).

    ``images_per_race`` rescales each race's test cells to that total (largest remainders keep it exact
    and the age mix as close as whole images allow); train sizes are the demo's.
    """
    groups = groups or {}
    unknown = sorted(set(groups) - set(RACES))
    if unknown:
        raise ValueError(f"unknown race group(s) {', '.join(unknown)}; the demo's: {', '.join(RACES)}")
    test = [_rescale(row, images_per_race) if images_per_race else row for row in DEMO_TEST]
    cells = [(race, age) for race in RACES for age in AGES]
    return Population(
        attributes=("race", "age"), cells=tuple(cells), sizes=tuple(int(n) for row in test for n in row),
        train_sizes=tuple(n for row in DEMO_TRAIN for n in row),
        truths=tuple(groups.get(race, typical) for race, _ in cells),
    )


def _rescale(row: tuple[int, ...], total: int) -> tuple[int, ...]:
    """``row`` scaled to sum to ``total``: floors, then one more image for the largest remainders."""
    exact = np.array(row, dtype=np.float64) * total / sum(row)
    scaled = np.floor(exact).astype(np.int64)
    scaled[np.argsort(scaled - exact, kind="stable")[:total - int(scaled.sum())]] += 1
    return tuple(int(n) for n in scaled)


def true_comparisons(population: Population, attributes: tuple[str, ...], outcome: Outcome,
                     reference: str) -> dict[str, dict[str, dict[str, float]]]:
    """The true value of every comparison of the partition over ``attributes``: against -> group -> metric.

    Each group's expected binary cells are its cells' expected counts summed (the sizes are
    fixed), and the metric is computed on them; NaN where the population leaves it undefined
    (e.g. no predicted positives at all).
    """
    positions = [population.attributes.index(a) for a in attributes]
    keys = [SEPARATOR.join(cell[p] for p in positions) for cell in population.cells]
    groups = list(dict.fromkeys(keys))
    confusion = coarsen(population.expected(), np.array([groups.index(k) for k in keys]), len(groups))
    cells = outcome.cells(confusion, LABELS)
    others = {"reference": cells[groups.index(reference)], "rest": cells.sum(axis=0) - cells}
    truths: dict[str, dict[str, dict[str, float]]] = {}
    for against, other in others.items():
        values = compare(cells, other, outcome.metrics, strict=True)
        truths[against] = {group: dict(zip(outcome.metrics, map(float, values[g]))) for g, group in enumerate(groups)}
    return truths


def error_rate_population(group_sizes: Mapping[str, int], error_rates: Mapping[str, float], *,
                          attribute: str = "race", base_rate: float = 0.5) -> Population:
    """Groups of one attribute whose predictions are wrong with the group's error rate whatever the label
    (TPR = 1 - error, FPR = error), so the true error-rate gap between two groups is the difference of their
    rates; train sizes equal test sizes."""
    return Population(
        attributes=(attribute,), cells=tuple((group,) for group in group_sizes), sizes=tuple(group_sizes.values()),
        train_sizes=tuple(group_sizes.values()),
        truths=tuple(Truth(base_rate, 1 - error_rates[g], error_rates[g]) for g in group_sizes),
    )


def simulate_predictions(group_sizes: Mapping[str, int], error_rates: Mapping[str, float], *,
                         attribute: str = "race", base_rate: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Rows ``id, label, pred, <attribute>`` drawn from ``error_rate_population``."""
    return error_rate_population(group_sizes, error_rates, attribute=attribute, base_rate=base_rate).draw(seed)


def simulated_verdicts(
    group_sizes: Mapping[str, int],
    error_rates: Mapping[str, float],
    settings: Settings,
    *,
    runs: int,
    seed: int = 0,
    reference: str | None = None,
    base_rate: float = 0.5,
) -> Counter[tuple[str, str, str]]:
    """How often each (group, metric, verdict) against the reference occurs over ``runs`` simulated tables.

    Tables of ``error_rate_population`` (one attribute, ``race``); each run is a fresh table
    and bootstrap stream, audited by ``audit_table`` as `fairvision audit` does; the
    favourable framing is tallied.
    """
    reference = reference or next(iter(group_sizes))
    population = error_rate_population(group_sizes, error_rates, base_rate=base_rate)
    tally: Counter[tuple[str, str, str]] = Counter()
    for run in range(runs):
        run_seed = seed * 100_003 + run
        audit = audit_table(population.draw(run_seed), population.train(), LABELS, LABELS[0], ("race",), (),
                            {"race": reference}, dataclasses.replace(settings, seed=run_seed))
        headline = audit.results[0].outcomes[audit.outcomes[0].name]
        for name, group in headline.groups.items():
            for metric, judged in group.comparisons.get("reference", {}).items():
                tally[name, metric, judged.verdict] += 1
    return tally


def seeds_of_a_procedure(seeds: int, rng: np.random.Generator, error: Mapping[str, float],
                         spread: Mapping[str, float], n: int = 500, attribute: str = "race") -> list[pd.DataFrame]:
    """One prediction table per seed of a simulated training procedure: the same images, labels and groups in each.

    Training randomness and test sampling are crossed, as in a real run: image i of group g is
    wrong for seed s when Φ(0.8 z_i + 0.6 e_is) < Φ(Φ⁻¹(error_g) + u_sg), with z_i the image's
    difficulty (shared by every seed), e_is noise and u_sg ~ N(0, spread_g) the seed's effect on
    the group. The procedure's true error rate of g is ``procedure_error_rate``.
    """
    from scipy.stats import norm

    groups = list(error)
    frame = pd.DataFrame({"id": [f"{g}/{i:04d}" for g in groups for i in range(n)],
                          attribute: np.repeat(groups, n), "label": rng.choice(LABELS, len(groups) * n)})
    difficulty = rng.standard_normal(len(frame))
    flipped = np.where(frame["label"] == LABELS[0], LABELS[1], LABELS[0])
    tables = []
    for _ in range(seeds):
        effect = {g: rng.normal(0.0, spread[g]) for g in groups}
        threshold = norm.cdf(frame[attribute].map(lambda g: norm.ppf(error[g]) + effect[g]).to_numpy())
        wrong = norm.cdf(0.8 * difficulty + 0.6 * rng.standard_normal(len(frame))) < threshold
        tables.append(frame.assign(pred=np.where(wrong, flipped, frame["label"])))
    return tables


def procedure_error_rate(error: float, spread: float) -> float:
    """A group's error rate expected over seeds in ``seeds_of_a_procedure``: E_u Φ(Φ⁻¹(error) + u), u ~ N(0, spread)."""
    from scipy.stats import norm

    return float(norm.cdf(norm.ppf(error) / np.sqrt(1.0 + spread ** 2)))
