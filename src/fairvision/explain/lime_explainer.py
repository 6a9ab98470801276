"""LIME through AIX360's ``LimeImageExplainer``, its classifier being the exported model called in large batches.

LIME perturbs superpixels and fits a local linear model to the class probability; a pixel's
saliency is its superpixel's positive weight for the explained class. AIX360's own examples
call ``model.predict`` ten images at a time; here every batch of ``batch_size`` perturbed
images is one call of the SavedModel's compiled `probabilities` endpoint, which is what makes
1,000 samples per image affordable (benchmarks/test_explain_speed.py), together with building each
batch's perturbed images in one array operation rather than lime's loop over samples and
superpixels (``_batched_data_labels``: the same draws, images and calls). lime draws a progress
bar per image that has no switch of its own: set TQDM_DISABLE=1 before tqdm is imported (the
CLI does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from fairvision.explain.maps import normalized

if TYPE_CHECKING:  # the model module loads TensorFlow; the explainer registry must not
    from fairvision.explain.model import ExplainedModel


def segmenter(algorithm: str, options: Mapping[str, float], seed: int):
    """lime's wrapper of a skimage segmentation, with its labels starting at 0 as lime requires."""
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    extra = {"start_label": 0} if algorithm == "slic" else {}  # slic counts from 1; lime indexes segments from 0
    if algorithm == "quickshift":
        extra["random_seed"] = seed
    return SegmentationAlgorithm(algorithm, **dict(options), **extra)


def lime(model: ExplainedModel, *, samples: int, batch_size: int, segmentation: str,
         segmentation_options: Mapping[str, float], seed: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """LIME with ``samples`` perturbations per image over ``segmentation`` superpixels, seeded."""
    from aix360.algorithms.lime import LimeImageExplainer

    def classify(images: np.ndarray) -> np.ndarray:  # uint8 perturbations of the uint8 image below
        return model.probabilities(images, batch_size=batch_size)

    def explain(pixels: np.ndarray, classes: np.ndarray) -> np.ndarray:
        explainer = LimeImageExplainer(random_state=seed)
        explainer.explainer.data_labels = _batched_data_labels(explainer.explainer)
        maps = []
        for image, label in zip(pixels, classes):
            # uint8, so the segmentation reads it as RGB in 0-255 (skimage scales integer images, not floats)
            explanation = explainer.explain_instance(
                np.clip(np.rint(image), 0, 255).astype(np.uint8), classify, labels=(int(label),), top_labels=None,
                num_samples=samples, batch_size=batch_size, segmentation_fn=segmenter(segmentation,
                                                                                      segmentation_options, seed),
                random_seed=seed)
            weights = np.zeros(explanation.segments.max() + 1)
            for segment, weight in explanation.local_exp[int(label)]:
                weights[segment] = weight
            maps.append(weights[explanation.segments])
        return normalized(np.stack(maps)) if maps else np.zeros(pixels.shape[:3])

    return explain


def _batched_data_labels(explainer):
    """lime's ``LimeImageExplainer.data_labels`` for ``explainer``, with each batch of perturbed images built at once.

    lime draws which superpixels each sample keeps, then builds the images one at a time, one
    mask per switched-off superpixel: about a fifth of LIME's time at 1,000 samples beside a
    batched model call. Here the same draws (from the explainer's own random state, in the same
    order) select each batch's pixels with one TensorFlow ``where`` (multi-threaded, and the batch
    stays a tensor on its way to the model); the images, the classifier's batches and the returned
    (data, labels) are lime's (tests/test_explain.py).
    """
    import tensorflow as tf

    def data_labels(image: np.ndarray, fudged_image: np.ndarray, segments: np.ndarray, classifier_fn,
                    num_samples: int, batch_size: int = 10) -> tuple[np.ndarray, np.ndarray]:
        n_features = np.unique(segments).shape[0]
        if segments.min() != 0 or segments.max() != n_features - 1:
            raise ValueError(f"superpixels must be numbered 0 to {n_features - 1}, as lime indexes them; "
                             f"got {segments.min()} to {segments.max()}")
        data = explainer.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
        data[0, :] = 1
        kept, fudged = tf.constant(image), tf.constant(fudged_image)
        labels = []
        for start in range(0, num_samples, batch_size):
            switched_off = (data[start:start + batch_size] == 0)[:, segments]  # [batch, H, W]
            labels.extend(classifier_fn(tf.where(switched_off[..., np.newaxis], fudged, kept)))
        return data, np.array(labels)

    return data_labels
