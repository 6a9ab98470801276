"""The explainer registry: each name in params.yaml `explain.methods` maps to a builder with keyword-only
options, and every explainer has one shape: (pixels [N, S, S, 3], class indices [N]) -> saliency maps [N, S, S].

A saliency map here is a distribution of attention over the pixels: non-negative and summing to 1, so
maps from different images and methods average and compare on one scale. Grad-CAM and integrated
gradients run on the exported model's `saliency` endpoint; LIME (``lime_explainer``) on its
`probabilities` endpoint.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from fairvision.explain.lime_explainer import lime
from fairvision.explain.maps import normalized
from fairvision.explain.model import BATCH_SIZE, ExplainedModel
from fairvision.params import Explain

Explainer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def gradcam(model: ExplainedModel) -> Explainer:
    """Grad-CAM at the layer the export found: channel weights from the class logit's mean gradient."""

    def explain(pixels: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return normalized(model.saliency(pixels, classes).gradcam)

    return explain


def integrated_gradients(model: ExplainedModel, *, steps: int) -> Explainer:
    """Integrated gradients of the class logit from a black image (midpoint Riemann sum over ``steps``);
    a pixel's saliency is its attribution's magnitude summed over the colour channels."""
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)[None, :, None, None, None]
    chunk = max(1, BATCH_SIZE // steps)  # images whose whole paths go through one endpoint call

    def explain(pixels: np.ndarray, classes: np.ndarray) -> np.ndarray:
        maps = []
        for start in range(0, len(pixels), chunk):
            images, labels = pixels[start:start + chunk], classes[start:start + chunk]
            path = (alphas * images[:, None]).reshape(-1, *images.shape[1:])
            gradients = model.saliency(path, np.repeat(labels, steps)).gradients.reshape(len(images), steps,
                                                                                       *images.shape[1:])
            maps.append(np.abs(images * gradients.mean(axis=1)).sum(axis=-1))
        return normalized(np.concatenate(maps)) if maps else np.zeros(pixels.shape[:3])

    return explain


# The names params.EXPLAIN_METHODS validates against (a test keeps the two equal).
EXPLAINERS: dict[str, Callable[..., Explainer]] = {
    "gradcam": gradcam, "integrated_gradients": integrated_gradients, "lime": lime,
}


def build_explainer(name: str, model: ExplainedModel, params: Explain) -> Explainer:
    """The explainer ``name`` with its options from params.yaml `explain`."""
    if name not in EXPLAINERS:
        raise ValueError(f"unknown explainer {name!r}; known: {', '.join(sorted(EXPLAINERS))}")
    options = {
        "gradcam": {},
        "integrated_gradients": {"steps": params.integrated_gradients_steps},
        "lime": {"samples": params.lime.samples, "batch_size": params.lime.batch_size,
                 "segmentation": params.lime.segmentation, "segmentation_options": params.lime.segmentation_options,
                 "seed": params.seed},
    }[name]
    return EXPLAINERS[name](model, **options)
