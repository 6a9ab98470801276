"""How small a cohort may be and still be worth a test, and what gap a cohort's size can resolve.

**Minimum cohort size (the power rule).** A candidate costs every other candidate power (it
is one more hypothesis for Benjamini–Hochberg), so a cohort whose confirm half could not show
a gap the audit cares about should not be one. The size is the smallest n at which a gap equal
to the audit's tolerance τ above the overall rate p₀ is found with probability ``power`` by a
one-sided test at level q / m, the level Benjamini–Hochberg applies to its first (and, for a
lone true cohort, only) discovery, m being ``max_candidates``:

    n = ⌈((z₁₋α √(p₀(1 − p₀)) + z_power √(p₁(1 − p₁))) / τ)²⌉,  α = q / m,  p₁ = min(p₀ + τ, 1)

(the complement, many times larger, is taken as known). At p₀ = 0.15, τ = 0.1, q = 0.1,
m = 50 and power 0.8 that is 194 rows per half. p₀ is measured on the explore half, per gap
(its own denominator: actual positives for the false negative rate, ...).

**Minimum detectable gap.** For an ``inconclusive`` cohort: the true gap at which an interval
of the cohort's confirm-half sizes, at the level it was given, excludes 0 with probability
``power``: (z₁₋ₐ + z_power) · √(p(1 − p)(1/n + 1/n_rest)), with a = (1 − level)/2 and p the
pooled rate. To be judged ``fail`` a gap must exceed the tolerance by that much.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()


def minimum_cohort_size(rate: float, gap: float, alpha: float, power: float) -> int:
    """The power rule's n for an overall rate ``rate``, a gap ``gap`` (the tolerance), one-sided level ``alpha``."""
    if not 0 < alpha < 1 or not 0 < power < 1 or gap <= 0:
        raise ValueError(f"need 0 < alpha < 1, 0 < power < 1 and gap > 0, got {alpha}, {power}, {gap}")
    p0 = min(max(rate, 0.0), 1.0)
    p1 = min(p0 + gap, 1.0)
    spread = _NORMAL.inv_cdf(1 - alpha) * math.sqrt(p0 * (1 - p0)) + _NORMAL.inv_cdf(power) * math.sqrt(p1 * (1 - p1))
    return max(1, math.ceil((spread / gap) ** 2 - 1e-9))


def minimum_detectable_gap(rate: float, size: float, rest: float, level: float, power: float) -> float:
    """The gap a level-``level`` interval of a cohort of ``size`` against ``rest`` excludes 0 from with ``power``."""
    if size <= 0 or rest <= 0:
        return math.inf
    p = min(max(rate, 0.0), 1.0)
    spread = _NORMAL.inv_cdf(1 - (1 - level) / 2) + _NORMAL.inv_cdf(power)
    return spread * math.sqrt(p * (1 - p) * (1 / size + 1 / rest))
