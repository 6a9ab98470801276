"""Backbone registry: name -> builder of a Keras classifier over raw 0-255 RGB images.

Each builder owns its input scaling, so the exported model takes the same pixels for
every backbone and serving needs no per-backbone preprocessing. A builder's keyword-only
parameters are its params.yaml options; `build_backbone` adds the options every backbone
shares (BatchNorm momentum, and fine-tuning for those wrapping a keras.applications network).
"""

from __future__ import annotations

import hashlib
import inspect
import socket
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

from fairvision.errors import FairvisionError

# Default moving-average momentum of every BatchNormalization layer (option `batchnorm_momentum`).
# Keras defaults (0.99) suit ImageNet-length schedules; after a few hundred steps their
# moving statistics are still near their initial values and inference-mode accuracy is at
# chance even when training accuracy is high. Long schedules and fine-tuning pretrained
# weights are better served by 0.99.
BATCHNORM_MOMENTUM = 0.9


def small_cnn(image_size: int, num_classes: int, *, width: int = 32):
    """Four conv-BN-ReLU-pool blocks, width doubling per block: a fast, honest baseline."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1 / 255)(inputs)
    for block in range(4):
        x = layers.Conv2D(width * 2**block, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    return _classifier("small_cnn", inputs, layers.GlobalAveragePooling2D()(x), num_classes)


def mobilenet_v2(image_size: int, num_classes: int, *, alpha: float = 1.0, weights: str = "none"):
    """keras.applications.MobileNetV2, inputs scaled to [-1, 1] as its ImageNet weights expect."""
    import keras
    from keras.src.applications.mobilenet_v2 import BASE_WEIGHT_PATH

    rows = image_size if image_size in (96, 128, 160, 192, 224) else 224  # Keras' choice of ImageNet file
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    arguments = _base_arguments("mobilenet_v2", image_size, weights, BASE_WEIGHT_PATH + file_name)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    base = keras.applications.MobileNetV2(alpha=alpha, **arguments)
    return _classifier("mobilenet_v2", inputs, base(x), num_classes)


def efficientnet_b0(image_size: int, num_classes: int, *, weights: str = "none"):
    """keras.applications.EfficientNetB0, which scales 0-255 pixels itself (Rescaling + Normalization)."""
    import keras
    from keras.src.applications.efficientnet import BASE_WEIGHTS_PATH

    arguments = _base_arguments("efficientnet_b0", image_size, weights, BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5")
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    base = keras.applications.EfficientNetB0(**arguments)
    if arguments["weights"] not in (None, "imagenet"):
        _imagenet_stddev_as_variance(base)
    return _classifier("efficientnet_b0", inputs, base(inputs), num_classes)


def _imagenet_stddev_as_variance(base) -> None:
    """Scale inputs as `weights: imagenet` does when a file given by path holds Keras' ImageNet weights.

    Keras' EfficientNet file stores the ImageNet standard deviations where its Normalization layer
    expects variances, and Keras adds a compensating Rescaling layer only when it loads that file
    itself; from any other path the variances are squared here instead (the same scaling).
    """
    import keras
    import numpy as np
    from keras.src.applications.efficientnet import IMAGENET_STDDEV_RGB

    normalization = next(layer for layer in base.layers if isinstance(layer, keras.layers.Normalization))
    if np.allclose(keras.ops.convert_to_numpy(normalization.adapt_variance), IMAGENET_STDDEV_RGB):
        normalization.adapt_variance.assign(np.square(IMAGENET_STDDEV_RGB))
        normalization.finalize_state()  # the layer computes with a copy made when its weights are set


# keras.applications.resnet50.preprocess_input ("caffe" mode) subtracts this from BGR pixels.
_IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


def resnet50(image_size: int, num_classes: int, *, weights: str = "none"):
    """keras.applications.ResNet50 behind its `preprocess_input` (RGB -> BGR, ImageNet mean subtracted) as layers."""
    import keras
    from keras.src.applications.resnet import BASE_WEIGHTS_PATH

    file_name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    arguments = _base_arguments("resnet50", image_size, weights, BASE_WEIGHTS_PATH + file_name)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.ops.flip(inputs, axis=-1)
    x = keras.layers.Rescaling(1.0, offset=[-mean for mean in _IMAGENET_MEAN_BGR])(x)
    base = keras.applications.ResNet50(**arguments)
    return _classifier("resnet50", inputs, base(x), num_classes)


BACKBONES: dict[str, Callable[..., Any]] = {
    "small_cnn": small_cnn, "mobilenet_v2": mobilenet_v2, "efficientnet_b0": efficientnet_b0, "resnet50": resnet50,
}


def architecture(name: str) -> str:
    """The registered builder behind a params.yaml backbone entry: ``small_cnn+reweighing`` -> ``small_cnn``.

    Everything after a ``+`` names a variant, so one architecture can be trained several ways
    side by side (with and without reweighing, say) and audited and reported under its own name.
    """
    return name.split("+", 1)[0]


def require_backbone(name: str) -> None:
    """A FairvisionError naming `backbones.<name>` unless its architecture is registered (checked before
    TensorFlow loads: the registry imports Keras only inside the builders)."""
    if architecture(name) not in BACKBONES:
        raise FairvisionError(f"params.yaml: unknown backbone `backbones.{name}`; known: "
                              f"{', '.join(sorted(BACKBONES))}, each optionally followed by +<variant> (letters, "
                              "digits, `_`, `-`)")


def build_backbone(name: str, image_size: int, num_classes: int, options: Mapping[str, Any]):
    """Build backbone ``name`` with its params.yaml ``options``; unknown names or options fail naming the key.

    Every backbone also takes `batchnorm_momentum` and `reweighing`; one wrapping a
    keras.applications network also takes `freeze_epochs`. The training loop reads the last two
    (see ``frozen_epochs`` and ``reweighed_attributes``).
    """
    require_backbone(name)
    builder = BACKBONES[architecture(name)]
    own = [p for p, spec in inspect.signature(builder).parameters.items() if spec.kind is spec.KEYWORD_ONLY]
    # A builder taking `weights` wraps a keras.applications network: a base that can be frozen.
    allowed = [*own, "batchnorm_momentum", "reweighing", *(["freeze_epochs"] if "weights" in own else [])]
    for option in options:
        if option not in allowed:
            raise FairvisionError(
                f"params.yaml: unknown option `backbones.{name}.{option}`; {name} takes: {', '.join(allowed)}"
            )
    momentum = options.get("batchnorm_momentum", BATCHNORM_MOMENTUM)
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 < momentum < 1:
        raise FairvisionError(
            f"params.yaml: `backbones.{name}.batchnorm_momentum` must be a number in (0, 1); received {momentum!r}"
        )
    frozen_epochs(name, options)  # checked here too, so a bad value fails before any work
    reweighed_attributes(name, options)
    try:
        model = builder(image_size, num_classes, **{k: v for k, v in options.items() if k in own})
    except ValueError as error:
        raise FairvisionError(f"params.yaml: `backbones.{name}` options {dict(options)} rejected: {error}") from None
    _set_batchnorm_momentum(model, momentum)
    return model


def reweighed_attributes(name: str, options: Mapping[str, Any]) -> tuple[str, ...]:
    """The protected attributes whose groups × label AIF360's Reweighing balances in the loss; () = none."""
    value = options.get("reweighing", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(set(value)) != len(value):
        raise FairvisionError(f"params.yaml: `backbones.{name}.reweighing` must be a list of distinct attribute "
                              f"names of the dataset, e.g. [race]; received {value!r}")
    return tuple(value)


def frozen_epochs(name: str, options: Mapping[str, Any]) -> int:
    """Epochs during which the base network stays frozen, its BatchNorm in inference mode (default 0).

    Training the new head on a frozen pretrained base first keeps the head's early, large
    gradients from wrecking the pretrained features.
    """
    value = options.get("freeze_epochs", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FairvisionError(f"params.yaml: `backbones.{name}.freeze_epochs` must be an integer >= 0; "
                              f"received {value!r}")
    return value


def base_network(model):
    """The keras.applications network inside a backbone (what `freeze_epochs` freezes), or None."""
    import keras

    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)


def _classifier(name: str, inputs, features, num_classes: int):
    """The head every backbone shares: dropout, then softmax probabilities named for the export."""
    import keras

    x = keras.layers.Dropout(0.2)(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def _set_batchnorm_momentum(layer, momentum: float) -> None:
    """Every BatchNormalization layer, in nested networks too (keras.applications builds with 0.99)."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        layer.momentum = momentum
    for inner in getattr(layer, "layers", ()):
        _set_batchnorm_momentum(inner, momentum)


def _base_arguments(name: str, image_size: int, weights: Any, origin: str) -> dict[str, Any]:
    """keras.applications arguments for a headless, average-pooled base network.

    ``weights`` is resolved first, so a missing file or an offline ImageNet download fails
    before anything is built.
    """
    return {"input_shape": (image_size, image_size, 3), "include_top": False, "pooling": "avg",
            "weights": _resolve_weights(name, weights, origin)}


def _resolve_weights(name: str, weights: Any, origin: str) -> str | None:
    """`none` -> None, `imagenet` -> "imagenet" once Keras can get ``origin``, ``{file, sha256}`` -> that file,
    once its bytes hash to ``sha256``.

    A file comes with its hash because DVC cannot depend on a path that a param names: the hash is part of the
    train stage's params (`backbones.<B>`), so a new file with its new hash reruns training, and a file that
    changed under an unchanged hash is refused instead of training a model DVC would record as the old one's.
    """
    if weights == "none":
        return None
    if weights == "imagenet":
        _require_imagenet_file(name, origin)
        return "imagenet"
    key = f"params.yaml: `backbones.{name}.weights`"
    if isinstance(weights, str):
        path = Path(weights).expanduser()
        found = f"; {path}'s is {_sha256(path)}" if path.is_file() else ""
        raise FairvisionError(f"{key}: a weights file is given with its hash, `{{file: {weights}, sha256: ...}}`, "
                              f"so that DVC retrains when the file changes{found}")
    if not isinstance(weights, dict) or set(weights) != {"file", "sha256"} or not all(
            isinstance(value, str) for value in weights.values()):
        raise FairvisionError(f"{key} must be none, imagenet or {{file: PATH, sha256: HEX}} (a weights file and its "
                              f"SHA-256); received {weights!r}")
    path = Path(weights["file"]).expanduser()
    if not path.is_file():
        raise FairvisionError(f"{key}: no weights file at {path}")
    actual = _sha256(path)
    if actual != weights["sha256"].lower():
        raise FairvisionError(f"{key}.sha256 is {weights['sha256']}, but {path}'s is {actual}: the file changed. Set "
                              "the new hash if the new file is meant: DVC then retrains on it")
    return str(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _require_imagenet_file(name: str, origin: str) -> None:
    """Fail at once, saying what to do, when Keras would have to download ``origin`` and cannot reach it.

    Keras would otherwise build the network and only then fail (or hang) in its download.
    """
    from keras.src.backend.config import keras_home

    cached = Path(keras_home()).expanduser() / "models" / origin.rsplit("/", 1)[-1]
    host = urlparse(origin).hostname or origin
    if cached.is_file() or _reachable(host):
        return
    raise FairvisionError(
        f"params.yaml: `backbones.{name}.weights: imagenet` needs {cached.name}, which is not in {cached.parent}, "
        f"and this machine is offline ({host} cannot be reached). Download {origin} on a machine with internet "
        f"access and copy it to {cached}, or set `backbones.{name}.weights` to a local weights file."
    )


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False
