"""Group-stratified bootstrap of confusion counts: each group resampled within itself.

A row bootstrap of one group draws its n rows with replacement, so its cell counts follow
a multinomial with the observed cell shares: drawing the counts directly is exact in
distribution and costs nothing per row. Stratifying by group keeps every group's size,
so a small group never vanishes from a replicate (the trap of resampling the whole table).
"""

from __future__ import annotations

import hashlib

import numpy as np


def stratified_resample(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Counts shaped ``(G, *cells)`` -> ``(resamples, G, *cells)``, each group's total kept."""
    n_groups = counts.shape[0]
    flat = counts.reshape(n_groups, -1)
    out = np.zeros((resamples, *flat.shape), dtype=np.int64)
    for g, row in enumerate(flat):
        n = int(row.sum())
        if n:
            out[:, g] = rng.multinomial(n, row / n, size=resamples)
    return out.reshape((resamples, *counts.shape))


def generator(seed: int, *key: str) -> np.random.Generator:
    """An independent stream for ``key`` (e.g. a partition's name) derived from the params seed.

    Keyed rather than sequential, so adding a partition or an outcome leaves every other
    stream, and so every other interval, unchanged.
    """
    digest = hashlib.sha256("\0".join(key).encode("utf-8")).digest()
    return np.random.default_rng([seed, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])
