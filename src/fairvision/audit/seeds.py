"""Training variance in an interval: the spread of K seeds' own values, added to the test set's bootstrap interval.

Several seeds' models predict the same test images, so seeds and images are crossed: a number of the
procedure (its seeds' mean counts) is uncertain because the test images are a sample (the bootstrap
over images, shared by every seed, measures that) and because the K seeds are a sample of the
training's randomness. The second part is measured directly: each seed's own value of the number on
the whole test set, whose standard error over seeds is SD / √K. The two are independent sources, so
their half-widths add in quadrature, the seeds' with Student's t quantile on K − 1 degrees of freedom
at the interval's own level (the simultaneous one, for a judged comparison).

Why not resample seeds in the bootstrap: a percentile interval over K resampled seeds never reaches
beyond the K values seen, a third too narrow in variance with K = 4 and far too narrow in the tails a
simultaneous level reads; t's quantile is what few seeds warrant (docs/seed-coverage.md measures both).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t


def seed_half_width(per_seed: np.ndarray, level: float | np.ndarray) -> np.ndarray:
    """Half-width of the seeds' part of an interval: t(level, K − 1) · SD / √K over the seeds' finite values.

    ``per_seed`` is ``(K, ...)``. Where fewer than two seeds have a value the spread is unknown: infinite,
    so the interval cannot support a verdict. ``level`` (a number, or one per value) is two-sided.
    """
    variance, count = _variance_of_mean(per_seed)
    with np.errstate(invalid="ignore"):
        quantile = student_t.ppf(0.5 + np.asarray(level) / 2.0, np.maximum(count - 1, 1))
    return quantile * np.sqrt(variance)


def _variance_of_mean(per_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SD² / K over each column's finite values of ``(K, ...)``, and K; infinite where fewer than two are finite."""
    per_seed = np.asarray(per_seed, dtype=np.float64)
    finite = np.isfinite(per_seed)
    count = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, per_seed, 0.0).sum(axis=0) / count
        variance = np.where(finite, (per_seed - mean) ** 2, 0.0).sum(axis=0) / (count - 1) / count
    return np.where(count >= 2, variance, np.inf), count


def widen(point: np.ndarray, low: np.ndarray, high: np.ndarray, half_width: np.ndarray) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """Each side's distance from the point and the seeds' half-width, added in quadrature: ``(low, high)``."""
    point, low, high = (np.asarray(x, dtype=np.float64) for x in (point, low, high))
    with np.errstate(invalid="ignore"):
        return (point - np.hypot(point - low, half_width), point + np.hypot(high - point, half_width))


def change_half_width(baseline: np.ndarray, current: np.ndarray, level: float) -> np.ndarray:
    """The seeds' half-width of a change between two procedures, current mean minus baseline mean.

    Each side ``(K, ...)`` adds its seeds' variance of the mean (SD² / K); a side of one seed adds
    nothing (its training noise is unknown: the gate's allowance stands in for it). Student's t with
    Welch–Satterthwaite's degrees of freedom; infinite where a side of several seeds has fewer than
    two values.
    """
    parts, dof_terms = [], []
    for side in (baseline, current):
        if len(side) < 2:
            continue
        variance, count = _variance_of_mean(side)
        parts.append(variance)
        with np.errstate(invalid="ignore"):
            dof_terms.append(variance ** 2 / np.maximum(count - 1, 1))
    if not parts:
        return np.zeros(np.shape(baseline)[1:])
    total = np.sum(parts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = np.where(total > 0, total ** 2 / np.sum(dof_terms, axis=0), 1.0)
        quantile = student_t.ppf(0.5 + level / 2.0, np.maximum(np.nan_to_num(dof, nan=1.0), 1.0))
    return np.where(np.isfinite(total), quantile * np.sqrt(total), np.inf)
