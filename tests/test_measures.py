"""The engine's point estimates equal AIF360's, to 1e-9, on random unbalanced tables with many groups."""

from __future__ import annotations

import numpy as np
import pytest

import aif360_reference as aif360
from fairvision.audit.measures import (
    COMPARISONS, RATES, between_group_theil_index, compare, group_rates, smoothed_edf, theil_index, undefined_reason,
)
from fairvision.audit.partitions import count_cells


def random_table(seed: int, n_groups: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group codes, truth and predictions (0/1) with unbalanced groups and per-group rates."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 400, size=n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    base = rng.uniform(0.05, 0.95, n_groups)[groups]
    truth = (rng.random(len(groups)) < base).astype(int)
    flip = rng.uniform(0.0, 0.4, n_groups)[groups]
    predicted = np.where(rng.random(len(groups)) < flip, 1 - truth, truth)
    order = rng.permutation(len(groups))  # rows in no particular order
    return groups[order], truth[order], predicted[order]


def cells_of(groups: np.ndarray, truth: np.ndarray, predicted: np.ndarray, n_groups: int) -> np.ndarray:
    """(G, 4) cells TP, FP, FN, TN from the (group, truth, prediction) counts."""
    counts = count_cells(groups, [truth, predicted], n_groups, 2)
    return np.stack([counts[:, 1, 1], counts[:, 0, 1], counts[:, 1, 0], counts[:, 0, 0]], axis=-1)


@pytest.mark.parametrize("seed", range(4))
def test_comparisons_equal_aif360_against_reference_and_rest(seed: int) -> None:
    groups, truth, predicted = random_table(seed)
    n_groups = 6
    cells = cells_of(groups, truth, predicted, n_groups)
    dataset, classified = aif360.binary_datasets(groups, truth, predicted)
    reference = 3  # deliberately not the first code
    metrics = tuple(COMPARISONS)
    ours_vs_reference = compare(cells, cells[reference], metrics)
    ours_vs_rest = compare(cells, cells.sum(axis=0) - cells, metrics)
    for g in range(n_groups):
        if g != reference:
            expected = aif360.comparison_values(dataset, classified, g, [reference], metrics)
            assert not list(aif360.mismatches(expected, dict(zip(metrics, ours_vs_reference[g])))), g
        rest = [o for o in range(n_groups) if o != g]
        expected = aif360.comparison_values(dataset, classified, g, rest, metrics)
        assert not list(aif360.mismatches(expected, dict(zip(metrics, ours_vs_rest[g])))), g


@pytest.mark.parametrize("seed", range(3))
def test_group_rates_theil_and_edf_equal_aif360(seed: int) -> None:
    groups, truth, predicted = random_table(seed + 10, n_groups=5)
    cells = cells_of(groups, truth, predicted, 5)
    dataset, classified = aif360.binary_datasets(groups, truth, predicted)
    rates = group_rates(cells)
    for g in range(5):
        expected = aif360.group_rate_values(dataset, classified, g)
        assert not list(aif360.mismatches(expected, {name: rates[name][g] for name in RATES}))
    theil, between = aif360.theil_values(dataset, classified, range(5))
    assert theil_index(cells) == pytest.approx(theil, abs=1e-9)
    assert between_group_theil_index(cells) == pytest.approx(between, abs=1e-9)
    assert smoothed_edf(cells) == pytest.approx(aif360.smoothed_edf_value(dataset, classified), abs=1e-9)


def test_vectorised_over_replicates_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 50, size=(7, 4, 4))  # 7 replicates, 4 groups
    batched = compare(cells, cells[:, :1], tuple(COMPARISONS))
    for r in range(7):
        np.testing.assert_array_equal(batched[r], compare(cells[r], cells[r, 0], tuple(COMPARISONS)))
    np.testing.assert_allclose(theil_index(cells), [theil_index(c) for c in cells])


def test_undefined_values_are_named() -> None:
    group = np.array([5, 0, 5, 0])  # TP FP FN TN: no actual negatives
    reference = np.array([0, 0, 4, 6])  # selects nobody
    assert "infinite" in undefined_reason("disparate_impact", group, reference, "the reference group")
    assert "no actual negatives" in undefined_reason("false_positive_rate_difference", group, reference,
                                                     "the reference group")
    assert undefined_reason("error_rate_difference", group, reference, "the reference group") is None
    assert np.isinf(compare(group, reference, ("disparate_impact",))[0])
