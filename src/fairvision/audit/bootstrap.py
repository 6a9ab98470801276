"""Group-stratified bootstrap of confusion counts: each group resampled within itself.

A row bootstrap of one group draws its n rows with replacement, so its cell counts follow
a multinomial with the observed cell shares: drawing the counts directly is exact in
distribution and costs nothing per row. Stratifying by group keeps every group's size,
so a small group never vanishes from a replicate (the trap of resampling the whole table).

The audit draws once, at the finest groups (the intersection of every protected attribute),
and sums those replicates into every coarser partition (``coarsen``): each attribute, each
intersection, the per-label scores and the indices over the whole table then come from the
same resampled rows, so statements across tables are coherent (the Theil index, a function
of the pooled cells, gets one interval, not one per table).
"""

from __future__ import annotations

import hashlib

import numpy as np


def stratified_resample(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Counts shaped ``(G, *cells)`` -> ``(resamples, G, *cells)``, each group's total kept.

    One vectorised multinomial call over every group (numpy broadcasts each group's n and
    cell shares), so a draw of many groups costs no Python loop.
    """
    n_groups = counts.shape[0]
    flat = counts.reshape(n_groups, -1).astype(np.int64)
    totals = flat.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(totals[:, np.newaxis] > 0, flat / totals[:, np.newaxis], 1.0 / flat.shape[1])
    out = rng.multinomial(totals, shares, size=(resamples, n_groups))
    # int32 holds any group below 2^31 images and halves the memory every later sum reads.
    return out.reshape((resamples, *counts.shape)).astype(np.int32 if totals.max(initial=0) < 2**31 else np.int64)


def coarsen(counts: np.ndarray, membership: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum finest groups into coarser ones: confusion counts ``(..., F, K, K)`` -> ``(..., n_groups, K, K)``.

    ``membership[f]`` is the coarse group of finest group f. One slice addition per finest
    group: there are few groups and many replicates, so each addition is one long vector op.
    """
    axis = counts.ndim - 3
    if n_groups == counts.shape[axis] and np.array_equal(membership, np.arange(n_groups)):
        return counts  # the finest partition itself: nothing to sum
    shape = list(counts.shape)
    shape[axis] = n_groups
    out = np.zeros(shape, dtype=counts.dtype)
    source = np.moveaxis(counts, axis, 0)
    target = np.moveaxis(out, axis, 0)
    for f, g in enumerate(membership):
        target[g] += source[f]
    return out


def generator(seed: int, *key: str) -> np.random.Generator:
    """An independent stream for ``key`` (e.g. a partition's name) derived from the params seed.

    Keyed rather than sequential, so adding a partition or an outcome leaves every other
    stream, and so every other interval, unchanged.
    """
    digest = hashlib.sha256("\0".join(key).encode("utf-8")).digest()
    return np.random.default_rng([seed, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])
