"""Statistics shared by the stages that publish numbers: percentile intervals and how numbers are rounded.

Core: the audit's intervals and the explanations' disparity and faithfulness intervals are
the same percentile intervals, and every JSON output rounds the same way, without the
explanations depending on the audit's code.
"""

from __future__ import annotations

import math

import numpy as np

DIGITS = 6  # decimals kept in JSON outputs: far below any interval's width, and stable diffs


def number(value: float | None) -> float | None:
    """JSON-safe: rounded to ``DIGITS``; None where there is no value (None, NaN or infinite)."""
    return round(float(value), DIGITS) if value is not None and math.isfinite(value) else None


def percentile_intervals(samples: np.ndarray, level: float) -> np.ndarray:
    """Two-sided percentile intervals of ``samples`` shaped ``(R, m)`` -> ``(m, 2)``.

    Non-finite replicates (an undefined metric in that resample) are skipped; a column with
    none finite gets NaN. Linear interpolation between order statistics, as ``np.quantile``'s
    default, but vectorised over columns (``np.nanquantile`` loops over them in Python); the
    columns with every replicate defined need only four order statistics each, found by
    ``np.partition`` in linear time instead of a sort.
    """
    tail = (1 - level) / 2
    finite = np.isfinite(samples)
    valid = finite.sum(axis=0)
    bounds = np.full((samples.shape[1], 2), np.nan)
    full = np.flatnonzero(valid == len(samples))
    if len(full) and len(samples) > 1:
        r = len(samples)
        positions = [q * (r - 1) for q in (tail, 1 - tail)]
        kth = sorted({k for p in positions for k in (int(np.floor(p)), min(int(np.floor(p)) + 1, r - 1))})
        # One metric per row: partitioning along the contiguous axis is faster than down the columns.
        parted = np.partition(np.ascontiguousarray(samples[:, full].T), kth, axis=1)
        for side, position in enumerate(positions):
            below = int(np.floor(position))
            above = min(below + 1, r - 1)
            bounds[full, side] = parted[:, below] + (position - below) * (parted[:, above] - parted[:, below])
    elif len(full):
        bounds[full] = samples[0, full][:, np.newaxis]
    partial = np.flatnonzero((valid > 0) & (valid < len(samples)))
    if len(partial):
        ordered = np.sort(np.ascontiguousarray(np.where(finite, samples, np.inf)[:, partial].T), axis=1)
        count = valid[partial]
        for side, q in enumerate((tail, 1 - tail)):
            position = q * (count - 1)
            below = np.floor(position).astype(np.int64)
            above = np.minimum(below + 1, count - 1)
            rows = np.arange(len(partial))
            low_values, high_values = ordered[rows, below], ordered[rows, above]
            bounds[partial, side] = low_values + (position - below) * (high_values - low_values)
    return bounds
