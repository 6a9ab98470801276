"""The power rule's cohort size and the minimum detectable gap: the formulas, and what they promise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairvision.discover.intervals import newcombe
from fairvision.discover.power import minimum_cohort_size, minimum_detectable_gap


def test_minimum_cohort_size_by_hand() -> None:
    # p0 = 0.15, tau = 0.1, alpha = 0.1 / 50, power 0.8: z = 2.87816, 0.84162;
    # ((2.87816 x sqrt(0.1275) + 0.84162 x sqrt(0.1875)) / 0.1)^2 = (1.02771 + 0.36443)^2 x 100 = 193.80 -> 194.
    assert minimum_cohort_size(0.15, 0.1, 0.1 / 50, 0.8) == 194
    assert minimum_cohort_size(0.15, 0.2, 0.1 / 50, 0.8) < 194 < minimum_cohort_size(0.15, 0.1, 0.1 / 500, 0.8)


def test_a_cohort_of_that_size_finds_the_tolerance_gap_about_as_often_as_promised() -> None:
    """One-sided binomial test at alpha against the known rate, at n = 194 and the rate 0.25: power ~0.8."""
    from scipy.stats import binom

    n, alpha = 194, 0.1 / 50
    critical = int(binom.isf(alpha, n, 0.15)) + 1  # the smallest count whose tail is <= alpha
    assert binom.sf(critical - 1, n, 0.15) <= alpha
    assert 0.72 <= binom.sf(critical - 1, n, 0.25) <= 0.88


def test_minimum_detectable_gap_by_hand() -> None:
    # (z_0.975 + z_0.8) x sqrt(0.15 x 0.85 x (1/400 + 1/4000)) = 2.801585 x sqrt(0.000350625) = 2.801585 x 0.0187250
    assert minimum_detectable_gap(0.15, 400, 4000, 0.95, 0.8) == pytest.approx(0.052460, abs=2e-6)
    assert math.isinf(minimum_detectable_gap(0.15, 0, 4000, 0.95, 0.8))


def test_at_the_minimum_detectable_gap_the_interval_excludes_zero_with_the_stated_power() -> None:
    rng = np.random.default_rng(2024)
    n, rest, base, level = 400, 4000, 0.15, 0.95
    gap = minimum_detectable_gap(base, n, rest, level, 0.8)
    events = rng.binomial(n, base + gap, size=2000)
    others = rng.binomial(rest, base, size=2000)
    excluded = np.mean([newcombe(e, n, o, rest, level)[1] > 0 for e, o in zip(events, others)])
    assert 0.74 <= excluded <= 0.86  # 0.8 up to the normal approximation and 2,000 draws (± 0.009)


def test_newcombe_matches_the_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873, table II example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    gap, low, high = newcombe(56, 70, 48, 80, 0.95)
    assert gap == pytest.approx(0.2)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
