"""Deletion and insertion curves: does removing what a map calls important change the decision?

Pixels are taken in the map's order (ties in random order): the deletion curve is the explained
class's probability as ever more of them are replaced by the image's mean colour, the insertion
curve as they are restored onto that flat image. A faithful map makes deletion fall fast (low
area under the curve) and insertion rise fast (high area). A map of random numbers, on the same
images, is the baseline: an explainer is only worth reading where it beats it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fairvision.explain.model import BATCH_SIZE, ExplainedModel


@dataclasses.dataclass(frozen=True)
class Curves:
    """Per image, the explained class's probability at each step [N, steps + 1]; step 0 removes nothing."""

    deletion: np.ndarray
    insertion: np.ndarray

    def areas(self) -> tuple[np.ndarray, np.ndarray]:
        """Each image's area under its deletion and its insertion curve (fraction of pixels 0 to 1)."""
        steps = self.deletion.shape[1] - 1
        return (np.trapezoid(self.deletion, dx=1 / steps, axis=1),
                np.trapezoid(self.insertion, dx=1 / steps, axis=1))


def curves(model: ExplainedModel, pixels: np.ndarray, classes: np.ndarray, maps: np.ndarray, *, steps: int,
           rng: np.random.Generator) -> Curves:
    """Deletion and insertion curves of ``maps`` for ``pixels`` [N, S, S, 3], ``steps`` steps each."""
    n, side = len(pixels), pixels.shape[1]
    area = side * side
    # rank of each pixel in the map's order, highest saliency first, ties broken at random
    order = np.lexsort((rng.random((n, area)), -maps.reshape(n, area)))
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(area)[None].repeat(n, 0), axis=1)
    cut = np.rint(np.arange(steps + 1) / steps * area)
    chunk = max(1, BATCH_SIZE // (2 * (steps + 1)))
    deletion, insertion = [], []
    for start in range(0, n, chunk):
        images = pixels[start:start + chunk]
        flat = np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape)
        masks = (ranks[start:start + chunk, None, :] < cut[None, :, None]).reshape(
            len(images), steps + 1, side, side, 1)
        deleted = np.where(masks, flat[:, None], images[:, None])
        inserted = np.where(masks, images[:, None], flat[:, None])
        batch = np.concatenate([deleted, inserted]).reshape(-1, side, side, 3)  # the endpoint casts to float32
        explained = np.tile(np.repeat(classes[start:start + chunk], steps + 1), 2)
        wanted = model.probabilities(batch)[np.arange(len(batch)), explained].reshape(2, len(images), steps + 1)
        deletion.append(wanted[0])
        insertion.append(wanted[1])
    empty = np.zeros((0, steps + 1))
    return Curves(np.concatenate(deletion) if deletion else empty, np.concatenate(insertion) if insertion else empty)
