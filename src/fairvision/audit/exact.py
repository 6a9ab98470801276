"""Clopper–Pearson intervals of a binomial rate, without a special-function library.

A rate resting on few events (0 of 526, 2 of 40) barely moves in the bootstrap, so the audit
widens what is built on it by the rate's exact interval (``measures.sparse_shifts``). Each
bound is where a binomial tail equals ``(1 - level) / 2``: the tail is summed over the rarer
side (few terms for a sparse rate) and solved by bisection. scipy's
``betaincinv`` agrees to 1e-10 (``tests/test_exact.py``) but costs 0.3 s to import,
a tenth of an audit.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Halvings of [0, 1]: past 2^-60 the bound no longer changes in double precision.
_BISECTIONS = 60
# Terms from which a tail is summed with numpy rather than term by term.
_VECTOR_TERMS = 64


@functools.lru_cache(maxsize=4096)
def exact_bounds(events: float, total: float, level: float) -> tuple[float, float]:
    """Clopper–Pearson interval of ``events`` of ``total`` (counts) at ``level``: never below its level."""
    k, n = int(round(events)), int(round(total))
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"exact bounds need 0 <= events <= total and total > 0, got {events} of {total}")
    if 2 * k > n:  # the rarer side: k of n is n - k non-events, bounds mirrored
        low, high = exact_bounds(n - k, n, level)
        return 1.0 - high, 1.0 - low
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else _solve(lambda p: _at_most(k - 1, n, p) > 1 - tail)  # P(X >= k) = tail
    high = _solve(lambda p: _at_most(k, n, p) > tail) if k < n else 1.0  # P(X <= k) = tail
    return low, high


def exact_rate_interval(events: float, total: float, level: float) -> tuple[float, float] | None:
    """Clopper–Pearson interval of a rate at 0 of n or n of n (closed form); None for any other count."""
    if total <= 0 or 0 < events < total:
        return None
    bound = (0.5 * (1 - level)) ** (1 / total)
    return (0.0, 1 - bound) if events == 0 else (bound, 1.0)


def _at_most(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed term by term in log space (no underflow for large n)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_odds, log_term = math.log(p) - math.log1p(-p), n * math.log1p(-p)
    if k < _VECTOR_TERMS:  # a sparse rate: a few terms, cheaper in plain floats than in numpy
        total = 0.0
        for j in range(k + 1):
            total += math.exp(log_term)
            log_term += math.log((n - j) / (j + 1)) + log_odds
        return total
    j = np.arange(k + 1)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - j[:-1]) / (j[:-1] + 1)))])
    return float(np.exp(log_term + log_choose + j * log_odds).sum())


def _solve(below: object) -> float:
    """The p in [0, 1] where ``below(p)`` turns false, by bisection (``below`` true at 0, false at 1)."""
    low, high = 0.0, 1.0
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if below(middle):  # type: ignore[operator]
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
