"""Percentile intervals, and the per-metric level that makes a family of them simultaneous.

A verdict reads many intervals at once (every group × every metric of a table), so the
chance that *some* interval misses its true value grows with the table. Three documented
methods (`audit.multiple_comparisons`):

* ``simultaneous`` (default): the percentile level is calibrated on the bootstrap replicates
  so that ``level`` of the replicates fall inside *every* interval of the family at once
  (Mandel & Betensky 2008). It adapts to how correlated the metrics are: about Bonferroni
  for independent metrics, far narrower for the strongly related metrics of a fairness table
  (SPD, DI, AOD … share their rates).
* ``bonferroni``: each interval at ``1 - (1 - level) / m`` for a family of m intervals;
  conservative; with few resamples its extreme percentiles are the replicates' min and max.
* ``none``: each interval at ``level``, no control.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Method = Literal["simultaneous", "bonferroni", "none"]
METHODS: tuple[str, ...] = ("simultaneous", "bonferroni", "none")


def percentile_intervals(samples: np.ndarray, level: float) -> np.ndarray:
    """Two-sided percentile intervals of ``samples`` shaped ``(R, m)`` -> ``(m, 2)``.

    Non-finite replicates (an undefined metric in that resample) are skipped; a column with
    none finite gets NaN. Linear interpolation between order statistics, as ``np.quantile``'s
    default, but vectorised over columns (``np.nanquantile`` loops over them in Python).
    """
    tail = (1 - level) / 2
    finite = np.isfinite(samples)
    # One metric per row: sorting along the contiguous axis is about 3x faster than down the columns.
    ordered = np.sort(np.ascontiguousarray(np.where(finite, samples, np.inf).T), axis=1)
    valid = finite.sum(axis=0)
    bounds = np.full((samples.shape[1], 2), np.nan)
    columns = np.flatnonzero(valid)
    for side, q in enumerate((tail, 1 - tail)):
        position = q * (valid[columns] - 1)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, valid[columns] - 1)
        weight = position - below
        low_values, high_values = ordered[columns, below], ordered[columns, above]
        bounds[columns, side] = low_values + weight * (high_values - low_values)
    return bounds


def family_level(samples: np.ndarray, level: float, method: Method) -> float:
    """The per-interval level at which the intervals of ``samples`` (``(R, m)``) hold jointly at ``level``."""
    m = samples.shape[1]
    if m <= 1 or method == "none":
        return level
    if method == "bonferroni":
        return 1 - (1 - level) / m
    return _calibrated_level(samples, level)


def _calibrated_level(samples: np.ndarray, level: float) -> float:
    """Mandel–Betensky: the smallest pointwise level whose intervals contain ``level`` of the replicates jointly.

    A replicate of rank k among a metric's v defined replicates is the interval's lower
    bound at quantile k / (v - 1) (``percentile_intervals``' interpolation), so its depth,
    the most extreme such tail share over the family's metrics, says which intervals contain
    it: those trimming a share at most its depth at each end. Undefined (NaN) values take no
    part in a replicate's depth.
    """
    finite = np.isfinite(samples)
    valid = finite.sum(axis=0)
    # Per metric along the contiguous axis; float32 halves the bytes sorted and ties only matter at the grain.
    order = np.argsort(np.where(finite, samples, np.inf).T.astype(np.float32), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(len(samples))[np.newaxis, :], axis=1)
    ranks = ranks.T
    with np.errstate(divide="ignore", invalid="ignore"):
        tails = np.minimum(ranks, valid - 1 - ranks) / (valid - 1)
    depth = np.where(finite & (valid > 1), tails, np.inf).min(axis=1)
    allowed_outside = int(np.floor((1 - level) * len(depth)))
    gamma = np.sort(depth)[min(allowed_outside, len(depth) - 1)]
    return float(1 - 2 * min(gamma, 0.5)) if np.isfinite(gamma) else level
