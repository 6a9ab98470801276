"""PNG pictures of saliency: heat over the face, so a reader sees where the model looked.

Pillow writes PNGs without timestamps, so the same maps give the same bytes. Pictures keep the
model's input size; a page enlarges them (CSS `image-rendering: pixelated` keeps pixels sharp).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HEAT_OPACITY = 0.6


def heat_over(image: np.ndarray, saliency: np.ndarray, scale: float) -> np.ndarray:
    """``saliency`` [S, S] / ``scale`` in the inferno colour map, blended over ``image`` [S, S, 3] in grey."""
    import matplotlib

    heat = matplotlib.colormaps["inferno"](np.clip(saliency / scale if scale > 0 else saliency * 0, 0, 1))[..., :3]
    grey = np.asarray(image, np.float64).mean(axis=-1, keepdims=True) / 255.0
    blended = HEAT_OPACITY * heat + (1 - HEAT_OPACITY) * grey
    return np.clip(np.rint(blended * 255), 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> None:
    """Save RGB ``pixels`` [H, W, 3] uint8 as a PNG, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def strip(images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """The images side by side, each under its own map scaled to its own maximum, one pixel apart."""
    tiles = [heat_over(image, saliency, float(saliency.max())) for image, saliency in zip(images, maps)]
    gap = np.full((images.shape[1], 1, 3), 255, np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
