"""Percentile intervals, and the per-metric level that makes a family of them simultaneous.

A verdict reads many intervals at once (every group × every metric of a table), so the
chance that *some* interval misses its true value grows with the table. Three documented
methods (`audit.multiple_comparisons`):

* ``simultaneous`` (default): the percentile level is calibrated on the bootstrap replicates
  so that ``level`` of the replicates fall inside *every* interval of the family at once
  (Mandel & Betensky 2008), and never above Bonferroni's, which holds whatever the
  dependence. It adapts to how correlated the metrics are: far narrower than Bonferroni for
  the strongly related metrics of a fairness table (SPD, AOD, … share their rates).
* ``bonferroni``: each interval at ``1 - (1 - level) / m`` for a family of m intervals.
* ``none``: each interval at ``level``, no control.

A percentile level is only as fine as the replicates: with R of them, a bound cut closer
than a few replicates from the edge is the sample's extreme, not a quantile. ``resamples_for``
sizes R so that Bonferroni's bounds keep ``TAIL_REPLICATES`` replicates beyond them, and a
level that still needs a bound within ``TAIL_REPLICATES`` of the edge is reported as at its
ceiling (``Level.at_ceiling``), never as a calibrated "100 %".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np

from fairvision.statistics import percentile_intervals

Method = Literal["simultaneous", "bonferroni", "none"]  # params.METHODS, the names params.yaml may give

# Replicates that must lie beyond each bound for it to be a quantile rather than the sample's extreme:
# Davison & Hinkley (1997, §5.2.3) size R for a percentile interval so that (R + 1) times the tail share
# is a small integer, about 5 for the 0.5 % tails of a 99 % interval; fewer makes the bound an extreme.
TAIL_REPLICATES = 5


@dataclasses.dataclass(frozen=True)
class Level:
    """The per-interval level of a family, and whether the replicates could resolve it.

    ``at_ceiling``: the level asked for bounds within ``TAIL_REPLICATES`` replicates of the
    edge, so it was capped there; the intervals are then the widest the resamples allow, and
    their joint coverage is not guaranteed (more resamples fix it).
    """

    value: float
    family_size: int
    resamples: int
    at_ceiling: bool


def resamples_for(family_size: int, level: float, minimum: int, maximum: int) -> int:
    """Replicates that leave ``TAIL_REPLICATES`` beyond each Bonferroni bound of a family of ``family_size``.

    Bonferroni's two-sided tail per interval is ``(1 - level) / (2 m)``; at least ``minimum``
    (params.yaml `audit.bootstrap.resamples`), at most ``maximum`` (memory).
    """
    # The ceiling is 1 - 2 T / (R - 1) (``family_interval_level``): R - 1 gaps must hold 2 T per Bonferroni tail.
    needed = math.ceil(TAIL_REPLICATES * 2 * max(family_size, 1) / (1 - level)) + 1
    return int(min(max(minimum, needed), max(maximum, minimum)))


def family_level(samples: np.ndarray, level: float, method: Method) -> float:
    """The per-interval level at which the intervals of ``samples`` (``(R, m)``) hold jointly at ``level``."""
    return family_interval_level(samples, level, method).value


def family_interval_level(samples: np.ndarray, level: float, method: Method) -> Level:
    """``family_level`` with its resolution: the family's size, the replicates, and whether it hit the ceiling."""
    resamples, m = samples.shape
    ceiling = 1 - 2 * TAIL_REPLICATES / max(resamples - 1, 1)
    if m <= 1 or method == "none":
        wanted = level
    else:
        bonferroni = 1 - (1 - level) / m
        wanted = bonferroni if method == "bonferroni" else min(_calibrated_level(samples, level), bonferroni)
    if wanted > ceiling:
        return Level(max(ceiling, level), m, resamples, at_ceiling=True)
    return Level(wanted, m, resamples, at_ceiling=False)


def _calibrated_level(samples: np.ndarray, level: float) -> float:
    """Mandel–Betensky: the smallest pointwise level whose intervals contain ``level`` of the replicates jointly.

    A replicate's depth in a metric is how far it sits from that metric's nearer edge, as a
    share of the v - 1 gaps between its v defined replicates (``percentile_intervals``'
    interpolation): the interval that trims a share t at each end contains it exactly when
    its depth is at least t. Tied replicates count only the replicates strictly beyond them
    (the lowest rank of their run for the lower tail, the highest for the upper), so a count
    that many replicates share is never pushed to the edge by an arbitrary sort order.
    Metrics constant over the replicates bound nothing and are left out. A replicate's depth
    in the family is its least over the metrics; the level keeps ``level`` of them inside.
    """
    depth = np.full(len(samples), np.inf)
    for column in samples.T:
        _column_depths(column, level, depth)
    return _level_from_depths(depth, level)


def _level_from_depths(depth: np.ndarray, level: float) -> float:
    allowed_outside = int(np.floor((1 - level) * len(depth)))
    gamma = np.sort(depth)[min(allowed_outside, len(depth) - 1)]
    return max(level, float(1 - 2 * gamma)) if np.isfinite(gamma) else level


def _column_depths(column: np.ndarray, level: float, depth: np.ndarray) -> None:
    """Lower ``depth`` to each replicate's depth in ``column`` where it is below ``(1 - level) / 2``.

    Only such depths can decide (one metric alone already keeps ``level`` of the replicates
    deeper), so the tails are found with a linear-time partition and only they are sorted.
    """
    rows = np.flatnonzero(np.isfinite(column))
    values = column[rows]
    v = len(values)
    if v < 2 or values.min() == values.max():
        return
    k = min(int(np.ceil((1 - level) / 2 * (v - 1))) + 1, v - 1)
    low_cut, high_cut = np.partition(values, [k, v - 1 - k])[[k, v - 1 - k]]
    lower = values <= low_cut
    ordered = np.sort(values[lower])
    _update(depth, rows[lower], np.searchsorted(ordered, values[lower], side="left") / (v - 1))
    upper = values >= high_cut
    ordered = np.sort(-values[upper])
    _update(depth, rows[upper], np.searchsorted(ordered, -values[upper], side="left") / (v - 1))


# Bytes of replicates handled at once: a family's replicates (the groups x metrics x R of a table: 150 MB for
# race x age at 43,401 resamples) are ranked a block of rows at a time, so no array of the whole family exists.
BLOCK_BYTES = 4 << 20


def family_intervals(columns: np.ndarray, family: np.ndarray, level: float, method: Method) -> tuple[Level, np.ndarray]:
    """The family's level (calibrated on the rows ``family`` masks) and every row's interval at it.

    ``columns`` holds one metric per row, ``(m, R)`` (the transpose of ``percentile_intervals``'
    input, the layout the engine computes in); the bounds are ``(m, 2)``. Equal to
    ``family_interval_level`` followed by ``percentile_intervals``, in linear time
    (``FamilyIntervals``, fed ``BLOCK_BYTES`` of rows at a time).
    """
    m, resamples = columns.shape
    found = FamilyIntervals(resamples, level, method)
    step = max(1, BLOCK_BYTES // max(resamples * columns.itemsize, 1))
    for start in range(0, m, step):
        found.add(columns[start:start + step], family[start:start + step])
    return found.result()


class FamilyIntervals:
    """A family's level and intervals from its rows fed a block at a time (``add``), then ``result``.

    Only each row's tails can hold a bound or decide the calibration: a threshold isolates
    them, only they are sorted and kept (``k + 2`` values a side, ``k`` the replicates beyond
    the nominal level's bound), and each replicate's depth in the family is lowered as the
    rows go by. Memory is the tails plus one block, whatever the family's size; rows with an
    undefined replicate (few) are kept whole and ranked metric by metric.
    """

    def __init__(self, resamples: int, level: float, method: Method) -> None:
        self.resamples, self.level, self.method = resamples, level, method
        self.k = min(int(np.ceil((1 - level) / 2 * (resamples - 1))) + 2, (resamples - 1) // 2)
        self.depth = np.full(resamples, np.inf)
        self.rows = 0
        self.family_size = 0
        self._tails: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row numbers, low tails, high tails)
        self._whole: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row numbers, rows, family mask)

    def add(self, columns: np.ndarray, family: np.ndarray) -> None:
        """Rank the rows ``columns`` (``(b, R)``); ``family`` marks those the level is calibrated on."""
        numbers = np.arange(self.rows, self.rows + len(columns))
        self.rows += len(columns)
        self.family_size += int(family.sum())
        complete = np.isfinite(columns).all(axis=1) if self.k >= 2 else np.zeros(len(columns), dtype=bool)
        if not complete.all():  # undefined replicates (few rows), or too few replicates for tails: kept whole
            self._whole.append((numbers[~complete], columns[~complete].copy(), family[~complete].copy()))
            if self.method == "simultaneous" and self.k >= 2:
                for row in np.flatnonzero(family & ~complete):
                    _column_depths(columns[row], self.level, self.depth)
        if not complete.any():
            return
        body = columns if complete.all() else columns[complete]
        decides = family[complete] & (self.method == "simultaneous")
        if decides.any():
            with np.errstate(invalid="ignore"):
                decides &= body.max(axis=1) > body.min(axis=1)  # a constant metric bounds nothing
        low = _tail(body, self.k, decides, self.depth)
        high = -_tail(-body, self.k, decides, self.depth)  # index j: the (R-1-j)-th order statistic
        self._tails.append((numbers[complete], low, high))

    def result(self) -> tuple[Level, np.ndarray]:
        """The family's ``Level`` and every row's interval at it, ``(rows, 2)`` in the order added."""
        resamples, level, size = self.resamples, self.level, self.family_size
        if self.k < 2:
            columns = np.concatenate([rows for _, rows, _ in self._whole]) if self._whole else np.empty((0, resamples))
            family = np.concatenate([mask for _, _, mask in self._whole]) if self._whole else np.empty(0, bool)
            found = family_interval_level(columns[family].T, level, self.method)
            return found, percentile_intervals(columns.T, found.value) if self.rows else np.empty((0, 2))
        if size <= 1 or self.method == "none":
            wanted = level
        elif self.method == "bonferroni":
            wanted = 1 - (1 - level) / size
        else:
            wanted = min(_level_from_depths(self.depth, level), 1 - (1 - level) / size)
        ceiling = 1 - 2 * TAIL_REPLICATES / max(resamples - 1, 1)
        found = (Level(max(ceiling, level), size, resamples, True) if wanted > ceiling
                 else Level(wanted, size, resamples, False))
        position = (1 - found.value) / 2 * (resamples - 1)  # interpolation between order statistics, as np.quantile
        below = int(np.floor(position))
        weight = position - below
        bounds = np.empty((self.rows, 2))
        for numbers, low, high in self._tails:
            bounds[numbers, 0] = low[:, below] + weight * (low[:, below + 1] - low[:, below])
            bounds[numbers, 1] = high[:, below] + weight * (high[:, below + 1] - high[:, below])
        for numbers, rows, _ in self._whole:
            bounds[numbers] = percentile_intervals(rows.T, found.value)
        return found, bounds


def _tail(columns: np.ndarray, k: int, decides: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Each row's k + 2 smallest values, sorted: ``(m, k + 2)``.

    A cut from a strided subsample of each row keeps the pass linear (a row whose cut holds
    too few values falls back to an exact partition). Only the values strictly below the cut
    are sorted; those equal to it (a discrete metric ties many replicates there) share one rank.
    Along the way, lowers ``depth`` for the replicates in the tails of the ``decides`` rows: a
    replicate's depth is the count of values strictly below it over R - 1.
    """
    m, resamples = columns.shape
    stride = max(1, k // 64)
    sub = columns[:, ::stride]
    k_sub = min(int(np.ceil(1.3 * (k + 2) / stride)) + 2, sub.shape[1] - 1)
    cut = np.partition(sub, k_sub, axis=1)[:, k_sub]
    rows, index = _where(columns < cut[:, np.newaxis])
    at_rows, at_index = _where(columns == cut[:, np.newaxis])
    less = np.bincount(rows, minlength=m)
    short = np.flatnonzero(less + np.bincount(at_rows, minlength=m) < k + 2)
    if len(short):  # the subsample's cut fell too low: those rows' exact (k + 1)-th value
        cut[short] = np.partition(columns[short], k + 1, axis=1)[:, k + 1]
        rows, index = _where(columns < cut[:, np.newaxis])
        at_rows, at_index = _where(columns == cut[:, np.newaxis])
        less = np.bincount(rows, minlength=m)
    row_start = np.concatenate([[0], np.cumsum(less)[:-1]])
    position = np.arange(len(rows)) - row_start[rows]
    width = max(int(less.max()), k + 2)
    padded = np.repeat(cut[:, np.newaxis], width, axis=1)  # what is not below the cut is at it
    padded[rows, position] = columns[rows, index]
    replicate = np.full(padded.shape, -1, dtype=np.int64)
    replicate[rows, position] = index
    order = np.argsort(padded, axis=1, kind="stable")
    padded, replicate = np.take_along_axis(padded, order, axis=1), np.take_along_axis(replicate, order, axis=1)
    strictly_below, _ = _tie_runs(padded)
    chosen = decides[:, np.newaxis] & (replicate >= 0)
    np.minimum.at(depth, replicate[chosen], strictly_below[chosen] / (resamples - 1))
    tied = decides[at_rows]  # every value at its row's cut has that row's count below it
    np.minimum.at(depth, at_index[tied], less[at_rows[tied]] / (resamples - 1))
    return padded[:, :k + 2]


def _where(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask, row-major: a flat search and a division are 4x faster than numpy's 2-D one."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _update(depth: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """depth[rows] = min(depth[rows], values), rows being distinct."""
    depth[rows] = np.minimum(depth[rows], values)


def _tie_runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted ascending: each position's first and last index within its run of equal values."""
    m, r = ordered.shape
    index = np.broadcast_to(np.arange(r), (m, r))
    starts = np.ones((m, r), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, index, 0), axis=1)
    ends = np.ones((m, r), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    last = np.minimum.accumulate(np.where(ends, index, r - 1)[:, ::-1], axis=1)[:, ::-1]
    return first, last
