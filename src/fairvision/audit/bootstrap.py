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
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np


# Replicates per block of the draw: each block has its own child stream (``Generator.spawn``), so blocks are
# drawn on parallel threads (numpy's multinomial releases the GIL) and the result is the same on any number.
DRAW_BLOCK = 4096


def stratified_resample(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Counts shaped ``(G, *cells)`` -> ``(resamples, G, *cells)``, each group's total kept.

    One vectorised multinomial call per block of ``DRAW_BLOCK`` replicates over every group
    (numpy broadcasts each group's n and cell shares), blocks on every available core, each
    written straight into the narrow result instead of numpy's int64.
    """
    n_groups = counts.shape[0]
    flat = counts.reshape(n_groups, -1).astype(np.int64)
    totals = flat.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(totals[:, np.newaxis] > 0, flat / totals[:, np.newaxis], 1.0 / flat.shape[1])
    # int32 holds any group below 2^31 images and halves the memory every later sum reads.
    out = np.empty((resamples, *flat.shape), dtype=np.int32 if totals.max(initial=0) < 2**31 else np.int64)
    streams = rng.spawn(-(-resamples // DRAW_BLOCK))

    def draw(block: int) -> None:
        start = block * DRAW_BLOCK
        size = min(DRAW_BLOCK, resamples - start)
        out[start:start + size] = streams[block].multinomial(totals, shares, size=(size, n_groups))

    with ThreadPoolExecutor(max_workers=max(1, min(len(streams), available_cores()))) as pool:
        list(pool.map(draw, range(len(streams))))
    return out.reshape((resamples, *counts.shape))


def available_cores() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def coarsen(counts: np.ndarray, membership: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum finest groups into coarser ones: confusion counts ``(..., F, K, K)`` -> ``(..., n_groups, K, K)``.

    ``membership[f]`` is the coarse group of finest group f. A product with the 0/1 matrix
    that maps each finest cell to its coarse cell, a block of replicates at a time: one pass
    over the replicates instead of one strided pass per finest group (4x faster at 63 groups).
    Integer counts go through float32 while every sum stays below 2^24 (exact there), float64 beyond.
    """
    axis = counts.ndim - 3
    if n_groups == counts.shape[axis] and np.array_equal(np.sort(membership), np.arange(n_groups)):
        # the finest partition itself, its groups maybe in another order: nothing to sum
        return counts if np.array_equal(membership, np.arange(n_groups)) else np.take(
            counts, np.argsort(membership), axis=axis)
    lead, (n_finest, *cells) = counts.shape[:axis], counts.shape[axis:]
    per_group = int(np.prod(cells))
    flat = counts.reshape(-1, n_finest * per_group)
    if np.issubdtype(counts.dtype, np.floating):
        dtype = counts.dtype
    else:
        dtype = np.float32 if np.abs(flat).sum(axis=1).max(initial=0) < 2**24 else np.float64
    mapping = np.kron(np.eye(n_groups, dtype=dtype)[membership], np.eye(per_group, dtype=dtype))
    out = np.empty((len(flat), n_groups * per_group), dtype=counts.dtype)
    for start in range(0, len(flat), DRAW_BLOCK):
        block = flat[start:start + DRAW_BLOCK]
        out[start:start + DRAW_BLOCK] = block.astype(dtype) @ mapping
    return out.reshape((*lead, n_groups, *cells))


def generator(seed: int, *key: str) -> np.random.Generator:
    """An independent stream for ``key`` (e.g. a partition's name) derived from the params seed.

    Keyed rather than sequential, so adding a partition or an outcome leaves every other
    stream, and so every other interval, unchanged.
    """
    digest = hashlib.sha256("\0".join(key).encode("utf-8")).digest()
    return np.random.default_rng([seed, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])


def seeds_resample(
    group_codes: np.ndarray, truth: np.ndarray, sides: Sequence[np.ndarray], n_groups: int, n_labels: int,
    resamples: int, rng: np.random.Generator,
) -> list[np.ndarray]:
    """Several seeds' models on the same test images, the images resampled: per side, the seeds' mean confusion
    counts in every replicate, ``(R, G, L, L)`` float32.

    Each of ``sides`` is ``(K, n)``: each seed's predicted label codes for the n images (the
    audit has one side; the regression check two, baseline and current, paired by image). Each
    group's images are drawn with replacement (its size kept, as in ``stratified_resample``),
    the same draw for every seed and side, so a replicate keeps every model's prediction of
    each drawn image. Images with the same group, label and predictions are one multinomial
    cell, which is exact in distribution. This is the test set's part of the uncertainty; the
    seeds' part is added to each interval from the seeds' own values (``audit.seeds``).
    """
    rows = np.stack([group_codes, truth, *[p for side in sides for p in side]], axis=1)
    patterns, sizes = np.unique(rows, axis=0, return_counts=True)
    out = [np.zeros((resamples, n_groups, n_labels, n_labels), dtype=np.float32) for _ in sides]
    streams = rng.spawn(n_groups)
    for group in range(n_groups):
        mine = patterns[:, 0] == group
        if not mine.any():
            continue
        cells, shares = patterns[mine], sizes[mine] / sizes[mine].sum()
        drawn = streams[group].multinomial(int(sizes[mine].sum()), shares, size=resamples).astype(np.float32)
        column = 2
        for side, result in zip(sides, out):
            seeds = len(side)
            mean = np.zeros((len(cells), n_labels, n_labels), dtype=np.float32)  # each cell's share of a confusion
            for k in range(seeds):
                np.add.at(mean, (np.arange(len(cells)), cells[:, 1], cells[:, column + k]), np.float32(1 / seeds))
            column += seeds
            result[:, group] = (drawn @ mean.reshape(len(cells), -1)).reshape(resamples, n_labels, n_labels)
    return out
