"""Backbone registry: name -> builder of a Keras classifier over raw 0-255 RGB images.

Each builder owns its input scaling, so the exported model takes the same pixels for
every backbone and serving needs no per-backbone preprocessing.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from fairvision.errors import FairvisionError

# Moving-average momentum of every BatchNormalization layer. Keras defaults (0.99, and 0.999
# in keras.applications) suit ImageNet-length schedules; after a few hundred steps their
# moving statistics are still near their initial values and inference-mode accuracy is at
# chance even when training accuracy is high.
BATCHNORM_MOMENTUM = 0.9


def small_cnn(image_size: int, num_classes: int, *, width: int = 32):
    """Four conv-BN-ReLU-pool blocks, width doubling per block: a fast, honest baseline."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1 / 255)(inputs)
    for block in range(4):
        x = layers.Conv2D(width * 2**block, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BATCHNORM_MOMENTUM)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def mobilenet_v2(image_size: int, num_classes: int, *, alpha: float = 1.0):
    """keras.applications.MobileNetV2 trained from scratch (weights=None), with a softmax head."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    base = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=alpha, include_top=False, weights=None, pooling="avg"
    )
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = BATCHNORM_MOMENTUM
    x = base(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2")


BACKBONES: dict[str, Callable[..., Any]] = {"small_cnn": small_cnn, "mobilenet_v2": mobilenet_v2}


def build_backbone(name: str, image_size: int, num_classes: int, options: dict[str, Any]):
    """Build backbone ``name``; unknown names or options fail naming the params.yaml key."""
    if name not in BACKBONES:
        raise FairvisionError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    builder = BACKBONES[name]
    allowed = [p for p, spec in inspect.signature(builder).parameters.items() if spec.kind is spec.KEYWORD_ONLY]
    for option in options:
        if option not in allowed:
            raise FairvisionError(
                f"params.yaml: unknown option `backbones.{name}.{option}`; {name} takes: {', '.join(allowed)}"
            )
    try:
        return builder(image_size, num_classes, **options)
    except ValueError as error:
        raise FairvisionError(f"params.yaml: `backbones.{name}` options {options} rejected: {error}") from None
