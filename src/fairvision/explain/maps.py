"""Saliency maps as distributions of attention: non-negative, summing to 1 over the image.

Raw maps differ in scale between methods and images (a logit gradient, a regression weight);
as distributions they average into a group's mean map and compare across groups and methods.
"""

from __future__ import annotations

import numpy as np


def normalized(maps: np.ndarray) -> np.ndarray:
    """Each map clipped at 0 and scaled to sum 1; a map with no positive mass becomes uniform (it points nowhere)."""
    maps = np.clip(np.asarray(maps, np.float64), 0.0, None)
    totals = maps.sum(axis=(1, 2), keepdims=True)
    uniform = np.full_like(maps, 1.0 / (maps.shape[1] * maps.shape[2]))
    return np.where(totals > 0, maps / np.where(totals > 0, totals, 1.0), uniform)
