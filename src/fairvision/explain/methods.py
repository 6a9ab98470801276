"""The explainer registry: each name in params.yaml `explain.methods` is one registered builder, and every
explainer has one shape: (pixels [N, S, S, 3], class indices [N]) -> saliency maps [N, S, S].

A saliency map here is a distribution of attention over the pixels: non-negative and summing to 1, so
maps from different images and methods average and compare on one scale. Grad-CAM and integrated
gradients run on the exported model's `saliency` endpoint; LIME (``lime_explainer``) on its
`probabilities` endpoint.

Adding an explainer is one function here, registered with ``@explainer(name, options)`` where
``options`` reads its keyword arguments from the typed params (``fairvision.params.Explain``), plus
its section in the params schema and params.yaml. The explain stage checks `explain.methods` against
this registry before it loads TensorFlow; importing this module loads none (the model is a type only).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from fairvision.errors import FairvisionError
from fairvision.explain.lime_explainer import lime
from fairvision.explain.maps import normalized
from fairvision.params import Explain

if TYPE_CHECKING:
    from fairvision.explain.model import ExplainedModel

Explainer = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Registered:
    """A builder ``(model, **options) -> Explainer`` and how its options come from params.yaml `explain`."""

    build: Callable[..., Explainer]
    options: Callable[[Explain], Mapping[str, Any]]


EXPLAINERS: dict[str, Registered] = {}


def explainer(name: str, options: Callable[[Explain], Mapping[str, Any]] = lambda params: {}):
    """Register the decorated builder as `explain.methods` entry ``name``."""

    def register(build: Callable[..., Explainer]) -> Callable[..., Explainer]:
        EXPLAINERS[name] = Registered(build, options)
        return build

    return register


@explainer("gradcam")
def gradcam(model: ExplainedModel) -> Explainer:
    """Grad-CAM at the layer the export found: channel weights from the class logit's mean gradient."""

    def explain(pixels: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return normalized(model.saliency(pixels, classes).gradcam)

    return explain


@explainer("integrated_gradients", lambda params: {"steps": params.integrated_gradients_steps})
def integrated_gradients(model: ExplainedModel, *, steps: int) -> Explainer:
    """Integrated gradients of the class logit from a black image (midpoint Riemann sum over ``steps``);
    a pixel's saliency is its attribution's magnitude summed over the colour channels."""
    from fairvision.explain.model import BATCH_SIZE  # here, not at the top: that module loads TensorFlow

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


explainer("lime", lambda params: {"samples": params.lime.samples, "batch_size": params.lime.batch_size,
                                  "segmentation": params.lime.segmentation,
                                  "segmentation_options": params.lime.segmentation_options, "seed": params.seed})(lime)


def require_explainers(methods: tuple[str, ...]) -> None:
    """A FairvisionError naming `explain.methods` unless every method is registered (before TensorFlow loads)."""
    unknown = [method for method in methods if method not in EXPLAINERS]
    if unknown:
        raise FairvisionError(f"params.yaml: unknown explainer {', '.join(map(repr, unknown))} in `explain.methods`; "
                              f"known: {', '.join(sorted(EXPLAINERS))}")


def build_explainer(name: str, model: ExplainedModel, params: Explain) -> Explainer:
    """The explainer ``name`` with its options from params.yaml `explain`."""
    require_explainers((name,))
    registered = EXPLAINERS[name]
    return registered.build(model, **registered.options(params))
