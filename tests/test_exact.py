"""Clopper–Pearson bounds without scipy at run time, checked against scipy's incomplete-beta inverse."""

from __future__ import annotations

import pytest
from scipy.special import betaincinv

from fairvision.audit.exact import exact_bounds, exact_rate_interval


def scipy_bounds(events: int, total: int, level: float) -> tuple[float, float]:
    alpha = 1 - level
    low = 0.0 if events == 0 else float(betaincinv(events, total - events + 1, alpha / 2))
    high = 1.0 if events == total else float(betaincinv(events + 1, total - events, 1 - alpha / 2))
    return low, high


@pytest.mark.parametrize("level", [0.9, 0.95, 0.999, 0.99994])
@pytest.mark.parametrize(("events", "total"), [
    (0, 1), (1, 1), (0, 526), (1, 25), (2, 40), (4, 1000), (3, 10**6), (524, 526), (526, 526), (3, 7), (10, 20),
    (63, 64), (100, 300), (250, 500),
])
def test_bounds_agree_with_the_incomplete_beta_inverse(events: int, total: int, level: float) -> None:
    ours, theirs = exact_bounds(events, total, level), scipy_bounds(events, total, level)
    for mine, reference in zip(ours, theirs):
        assert mine == pytest.approx(reference, rel=1e-9, abs=1e-15)


def test_the_closed_form_at_zero_and_all_events_is_the_same_interval() -> None:
    assert exact_rate_interval(0, 526, 0.95) == pytest.approx(exact_bounds(0, 526, 0.95))
    assert exact_rate_interval(40, 40, 0.99) == pytest.approx(exact_bounds(40, 40, 0.99))
    assert exact_rate_interval(3, 40, 0.99) is None


@pytest.mark.parametrize(("events", "total"), [(-1, 10), (11, 10), (0, 0)])
def test_impossible_counts_are_refused(events: int, total: int) -> None:
    with pytest.raises(ValueError, match="events <= total"):
        exact_bounds(events, total, 0.95)
