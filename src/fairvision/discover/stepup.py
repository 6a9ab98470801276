"""Which candidates are discoveries: Benjamini–Hochberg (or –Yekutieli) step-up, behind a global false-alarm gate.

**Step-up.** With m p-values sorted p₍₁₎ ≤ … ≤ p₍ₘ₎, reject the R smallest, R the largest k
with p₍ₖ₎ ≤ k q / m (Benjamini–Hochberg 1995). It keeps the expected share of false
discoveries at most q when the tests are independent or positively dependent (PRDS).
Benjamini–Yekutieli (2001) divides q by Σ 1/i (≈ 4.5 for m = 50) and holds under any
dependence. Overlapping cohorts are positively dependent (a cohort and its parent share
rows), but disjoint ones are negatively so (each is in the other's complement), which PRDS
does not cover: the validation measures BH's FDR on such families and it stays within q
while BY costs up to 15 points of recall (docs/discovery.md), so BH is the default and BY
a setting.

**Gate.** On a model with no disparity every discovery is false, and BH at q rejects
something with probability up to q (0.1): too often for a report that says "this cohort is
failed". So nothing is reported unless the global null is rejected at ``false_alarm`` by
Simes' test (min p₍ₖ₎ m / k ≤ false_alarm, valid under PRDS). The reported set is then either
BH's or empty, so the FDR stays at most q (V/R is only ever set to 0) and the chance of any
report on a fair model is at most ``false_alarm``.

**FCR level.** Benjamini & Yekutieli (2005): intervals of the R selected of m at level
1 − R α / m keep the expected share of non-covering intervals among the selected (the false
coverage rate) at most α, whatever rule selected them. Discovery takes α = 1 − the audit's
level (0.05), not q: at α = q = 0.1 a pilot of the validation measured coverage of the
selected intervals as low as 84–91 % in four cells, where the audit promises 95 %
(docs/discovery.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fairvision.discover.settings import Procedure


@dataclasses.dataclass(frozen=True)
class Selection:
    """The step-up's outcome: ``rejected`` mask, the p-value threshold it used, and whether the gate opened."""

    rejected: np.ndarray
    threshold: float
    gate_open: bool

    @property
    def count(self) -> int:
        return int(self.rejected.sum())


def step_up(p_values: np.ndarray, q: float, procedure: Procedure = "bh") -> tuple[np.ndarray, float]:
    """BH's (or BY's) rejections at ``q`` and the p-value threshold k q' / m they used (0 when none)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool), 0.0
    level = q / harmonic(m) if procedure == "by" else q
    ordered = np.sort(p)
    below = np.flatnonzero(ordered <= level * np.arange(1, m + 1) / m)
    if len(below) == 0:
        return np.zeros(m, dtype=bool), 0.0
    threshold = level * (below[-1] + 1) / m
    return p <= threshold, float(threshold)


def simes_rejects(p_values: np.ndarray, alpha: float) -> bool:
    """Whether Simes' test rejects "every null is true" at ``alpha``: some p₍ₖ₎ ≤ k alpha / m."""
    p = np.sort(np.asarray(p_values, dtype=np.float64))
    return bool(len(p) and (p <= alpha * np.arange(1, len(p) + 1) / len(p)).any())


def select(p_values: np.ndarray, q: float, procedure: Procedure = "bh", false_alarm: float | None = None) -> Selection:
    """The step-up's rejections, emptied unless Simes' test at ``false_alarm`` opens the gate (None: no gate)."""
    rejected, threshold = step_up(p_values, q, procedure)
    gate_open = false_alarm is None or simes_rejects(p_values, false_alarm)
    if not gate_open:
        rejected = np.zeros_like(rejected)
    return Selection(rejected, threshold if gate_open else 0.0, gate_open)


def fcr_level(selected: int, candidates: int, alpha: float) -> float:
    """Benjamini–Yekutieli's FCR-adjusted level 1 − R α / m for each of the R selected of m candidates."""
    if candidates <= 0 or not 0 < selected <= candidates:
        raise ValueError(f"need 0 < selected <= candidates, got {selected} of {candidates}")
    return 1 - selected * alpha / candidates


def harmonic(m: int) -> float:
    """Σ_{i≤m} 1/i: BY's price for arbitrary dependence."""
    return float(np.sum(1.0 / np.arange(1, m + 1)))
