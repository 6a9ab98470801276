"""The exported model as the explainers and discovery see it: its endpoints over pixels, called in large batches.

Only the SavedModel folder is read (labels.txt beside it), so an explanation (or a cohort found
in the embeddings) is of exactly the artifact that is served. The image size comes from the
endpoints' own input signature.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from fairvision import layout
from fairvision.errors import FairvisionError
from fairvision.files import require
from fairvision.models.endpoints import EMBEDDINGS, PROBABILITIES, SALIENCY
from fairvision.models.export import read_labels

BATCH_SIZE = 256  # images per endpoint call: large enough that a call's overhead is small next to its work


@dataclasses.dataclass(frozen=True)
class Saliency:
    """The saliency endpoint's outputs for a batch: Grad-CAM maps [N, S, S], logit gradients [N, S, S, 3]."""

    gradcam: np.ndarray
    gradients: np.ndarray


@dataclasses.dataclass(frozen=True)
class ExplainedModel:
    """A loaded SavedModel's explanation endpoints; every call takes pixels [N, S, S, 3] in 0-255 (any numeric
    dtype: uint8 images are cast to float32 by TensorFlow, which saves copying four times the bytes)."""

    labels: tuple[str, ...]
    image_size: int
    loaded: Any  # the restored SavedModel: it owns the variables the endpoints read

    def probabilities(self, pixels: np.ndarray, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Class probabilities [N, K], ``batch_size`` images per call."""
        endpoint = getattr(self.loaded, PROBABILITIES)
        parts = [endpoint(_floats(pixels[start:start + batch_size]))["probabilities"].numpy()
                 for start in range(0, len(pixels), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)

    def embeddings(self, pixels: np.ndarray, *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The penultimate layer's activations [N, D] (the classifier's input), ``batch_size`` images per call."""
        endpoint = getattr(self.loaded, EMBEDDINGS)
        parts = [endpoint(_floats(pixels[start:start + batch_size]))["embeddings"].numpy()
                 for start in range(0, len(pixels), batch_size)]
        width = int(endpoint.concrete_functions[0].structured_outputs["embeddings"].shape[-1])
        return np.concatenate(parts) if parts else np.zeros((0, width), np.float32)

    def saliency(self, pixels: np.ndarray, classes: np.ndarray, *, batch_size: int = BATCH_SIZE) -> Saliency:
        """Grad-CAM maps and input gradients of each image's ``classes`` logit."""
        endpoint = getattr(self.loaded, SALIENCY)
        cams, gradients = [], []
        for start in range(0, len(pixels), batch_size):
            out = endpoint(_floats(pixels[start:start + batch_size]),
                           tf.constant(classes[start:start + batch_size], tf.int32))
            cams.append(out["gradcam"].numpy())
            gradients.append(out["gradients"].numpy())
        return Saliency(np.concatenate(cams), np.concatenate(gradients))


def _floats(pixels: np.ndarray) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(pixels), tf.float32)


def load_explained(model_dir: str | Path, endpoints: Sequence[str] = (PROBABILITIES, SALIENCY)) -> ExplainedModel:
    """Load ``model_dir``; a FairvisionError when it is missing or was exported without one of ``endpoints``."""
    model_dir = Path(model_dir)
    require(model_dir / "saved_model.pb", layout.train_command(model_dir))
    loaded = tf.saved_model.load(str(model_dir))
    absent = [name for name in (PROBABILITIES, *endpoints) if not hasattr(loaded, name)]
    if absent:
        raise FairvisionError(f"{model_dir}: exported without the {', '.join(f'`{name}`' for name in absent)} "
                              "endpoint(s) (by an older fairvision); retrain it with "
                              f"`fairvision {layout.train_command(model_dir)}`")
    signature = getattr(loaded, PROBABILITIES).concrete_functions[0].structured_input_signature[0][0]
    return ExplainedModel(labels=tuple(read_labels(model_dir)), image_size=int(signature.shape[1]), loaded=loaded)
