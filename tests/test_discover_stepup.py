"""BH / BY step-up, the Simes gate and the FCR level, against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fairvision.discover.stepup import fcr_level, harmonic, select, simes_rejects, step_up

# m = 10; BH at q = 0.1 compares p_(k) with k / 100: p_(4) = 0.039 <= 0.04 is the largest k that passes
# (p_(5) = 0.06 > 0.05, ...), so the four smallest are rejected, even though p_(3) = 0.035 > 0.03 (step-UP).
P = np.array([0.06, 0.001, 0.039, 0.2, 0.035, 0.008, 0.5, 0.9, 0.07, 0.3])


def test_bh_rejects_the_four_smallest() -> None:
    rejected, threshold = step_up(P, 0.1, "bh")
    assert rejected.tolist() == [False, True, True, False, True, True, False, False, False, False]
    assert threshold == pytest.approx(0.04)


def test_by_divides_q_by_the_harmonic_sum() -> None:
    # Σ 1/i for m = 10 is 2.928968...; BY compares p_(k) with k q / (10 x 2.929): 0.00341, 0.00683, 0.0102, ...
    assert harmonic(10) == pytest.approx(7381 / 2520)
    rejected, threshold = step_up(P, 0.1, "by")
    # p_(2) = 0.008 > 0.00683 but p_(1) = 0.001 <= 0.00341: only the smallest.
    assert rejected.sum() == 1 and rejected[1]
    assert threshold == pytest.approx(0.1 / 10 / harmonic(10))


def test_nothing_passes() -> None:
    rejected, threshold = step_up(np.array([0.5, 0.2, 0.9]), 0.1)
    assert not rejected.any() and threshold == 0.0


def test_simes_gate_needs_its_own_level() -> None:
    # min_k p_(k) m / k: 0.001 x 10 / 1 = 0.01 <= 0.05 -> the gate opens.
    assert simes_rejects(P, 0.05)
    # p = (0.02, 0.04, 0.9): 0.06, 0.06, 0.9 -> closed at 0.05, open at 0.1.
    small = np.array([0.02, 0.04, 0.9])
    assert not simes_rejects(small, 0.05) and simes_rejects(small, 0.1)
    assert step_up(small, 0.1)[0].sum() == 2
    gated = select(small, 0.1, "bh", false_alarm=0.05)
    assert gated.count == 0 and not gated.gate_open
    assert select(small, 0.1, "bh", false_alarm=None).count == 2


def test_fcr_level() -> None:
    assert fcr_level(1, 50, 0.05) == pytest.approx(0.999)
    assert fcr_level(10, 40, 0.05) == pytest.approx(1 - 10 * 0.05 / 40)
    with pytest.raises(ValueError):
        fcr_level(0, 50, 0.05)
