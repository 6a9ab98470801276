"""The verdicts validated on ground truth: simulated prediction tables with known per-group error rates.

Fail means "the whole simultaneous interval lies past the tolerance", so at a true gap equal
to the tolerance a fail is a false alarm: its rate must stay at or below the nominal level
(1 - level), plus Monte-Carlo slack. At twice the tolerance with 1,000 images per group the
gap must be found (fail >= 95 %). Without any bias, some comparison of a 7-group table may
fail by chance in at most the nominal share of runs.
"""

from __future__ import annotations

import math

import pytest

from fairvision.audit.engine import Settings
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.simulate import simulated_verdicts
from fairvision.audit.verdicts import Band

LEVEL = 0.95
SETTINGS = Settings(
    min_group_size=50, resamples=1000, seed=0, level=LEVEL, multiple_comparisons="simultaneous",
    bands={name: Band(-0.1, 0.1) if c.kind == "difference" else Band(0.8, 1.25) for name, c in COMPARISONS.items()},
)
METRIC = "error_rate_difference"


def slack(rate: float, runs: int) -> float:
    """Three binomial standard errors of an observed rate."""
    return 3 * math.sqrt(rate * (1 - rate) / runs)


def test_gap_at_the_tolerance_fails_at_most_at_the_nominal_level() -> None:
    runs = 200
    tally = simulated_verdicts({"A": 1000, "B": 1000}, {"A": 0.1, "B": 0.2}, SETTINGS, runs=runs, seed=1)
    nominal = 1 - LEVEL
    assert tally["B", METRIC, "fail"] / runs <= nominal + slack(nominal, runs)
    assert tally["B", METRIC, "pass"] / runs <= nominal + slack(nominal, runs)  # nor falsely certified as within


@pytest.mark.parametrize("size", [1000, 3000])
def test_gap_at_twice_the_tolerance_is_found(size: int) -> None:
    runs = 100
    tally = simulated_verdicts({"A": size, "B": size}, {"A": 0.1, "B": 0.3}, SETTINGS, runs=runs, seed=2)
    assert tally["B", METRIC, "fail"] / runs >= 0.95


def test_no_bias_raises_few_false_alarms_over_a_whole_table() -> None:
    runs = 40
    sizes = {group: 290 for group in "ABCDEFG"}  # the synthetic test split's race groups
    runs_with_a_fail = sum(
        any(verdict == "fail" for (_, _, verdict) in simulated_verdicts(sizes, dict.fromkeys(sizes, 0.1), SETTINGS,
                                                                        runs=1, seed=100 + run))
        for run in range(runs)
    )
    nominal = 1 - LEVEL
    assert runs_with_a_fail / runs <= nominal + slack(nominal, runs)


def test_small_true_gap_in_a_large_sample_passes() -> None:
    runs = 50
    tally = simulated_verdicts({"A": 3000, "B": 3000}, {"A": 0.1, "B": 0.11}, SETTINGS, runs=runs, seed=3)
    assert tally["B", METRIC, "pass"] / runs >= 0.9
