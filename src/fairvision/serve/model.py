"""The served model: an exported SavedModel's `serving_default` signature, its description and a batch call.

Only the exported artifact is served (the one `evaluate` measured), never a Keras object, and
only `serving_default`: other endpoints a model may carry are not part of the serving contract.
"""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from fairvision.errors import FairvisionError
from fairvision.models.endpoints import PROBABILITIES
from fairvision.models.export import LABELS_FILE, SIGNATURE, read_labels
from fairvision.serve.options import require_model_folder

OUTPUTS = ("probabilities", "classes")  # what export_classifier's signature returns, in response order
PLATFORM = "tensorflow_savedmodel"


class UndecodableImage(Exception):
    """TensorFlow could not decode an image that passed the header checks (e.g. truncated data)."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One signature tensor: name, TensorFlow dtype name (DT_FLOAT, DT_STRING) and shape (-1: any size)."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A loaded model folder; ``predict`` runs its signature on a batch of encoded images."""

    path: Path
    labels: tuple[str, ...]
    input_size: int  # the model's input is input_size x input_size pixels: every image is resized to it
    input: TensorInfo
    outputs: tuple[TensorInfo, ...]  # in OUTPUTS order
    signature_def: dict[str, Any]  # the SignatureDef as TensorFlow Serving writes it in /metadata
    call: Callable[..., dict[str, Any]] = dataclasses.field(repr=False)

    def predict(self, images: Sequence[bytes]) -> dict[str, np.ndarray]:
        """Each output for ``images``, first axis the image; UndecodableImage if TensorFlow rejects one."""
        import tensorflow as tf

        try:
            outputs = self.call(**{self.input.name: tf.constant(list(images), tf.string)})
        except tf.errors.InvalidArgumentError as error:
            raise UndecodableImage(_reason(error.message)) from None
        return {name: outputs[name].numpy() for name in OUTPUTS}


def load_model(path: str | Path) -> ServedModel:
    """Load a model folder written by `fairvision train`; a FairvisionError names what is missing or wrong."""
    path = require_model_folder(path)
    if not (path / LABELS_FILE).is_file():
        raise FairvisionError(f"{path / LABELS_FILE}: not found; `fairvision train` writes it beside the SavedModel")
    signature = _signature_def(path)
    inputs, outputs = _tensors(signature.inputs), _tensors(signature.outputs)
    if len(inputs) != 1 or inputs[0].dtype != "DT_STRING" or len(inputs[0].shape) != 1 or set(OUTPUTS) - {
            o.name for o in outputs}:
        raise FairvisionError(f"{path}: signature {SIGNATURE!r} takes {inputs} and returns {outputs}; fairvision serve "
                              f"serves one string input of encoded images and outputs {list(OUTPUTS)}, "
                              "as `fairvision train` exports them")
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # TensorFlow raises many kinds for a damaged SavedModel
        raise FairvisionError(f"{path}: cannot load the SavedModel ({_reason(str(error))})") from None
    from google.protobuf import json_format

    model = ServedModel(
        path=path, labels=tuple(read_labels(path)), input_size=_input_size(loaded, path), input=inputs[0],
        outputs=tuple(next(o for o in outputs if o.name == name) for name in OUTPUTS),
        signature_def=json_format.MessageToDict(signature, preserving_proto_field_name=True,
                                                always_print_fields_with_no_presence=True),
        call=loaded.signatures[SIGNATURE],
    )
    _check_classes(model)
    return model


def _signature_def(path: Path):
    """The `serving_default` SignatureDef proto from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as error:  # protobuf's DecodeError, or a truncated file
        raise FairvisionError(f"{path / 'saved_model.pb'}: not a SavedModel ({error})") from None
    signatures = {name for graph in saved_model.meta_graphs for name in graph.signature_def}
    for graph in saved_model.meta_graphs:
        if SIGNATURE in graph.signature_def:
            return graph.signature_def[SIGNATURE]
    raise FairvisionError(f"{path}: the SavedModel has no {SIGNATURE!r} signature (it has {sorted(signatures)})")


def _input_size(loaded: Any, path: Path) -> int:
    """The side of the model's square input, from its pixels endpoint (as `fairvision explain` reads it): the
    serving signature takes encoded bytes of any size and hides it."""
    if not hasattr(loaded, PROBABILITIES):
        raise FairvisionError(f"{path}: exported without the `{PROBABILITIES}` endpoint (by an older fairvision), "
                              "so its input size is unknown; export it again with `fairvision train`")
    return int(getattr(loaded, PROBABILITIES).concrete_functions[0].structured_input_signature[0][0].shape[1])


def _tensors(infos) -> list[TensorInfo]:
    from tensorflow.core.framework import types_pb2

    return [TensorInfo(name, types_pb2.DataType.Name(info.dtype), tuple(dim.size for dim in info.tensor_shape.dim))
            for name, info in infos.items()]


def _check_classes(model: ServedModel) -> None:
    """One warm-up call (traces the graph before the first request), checking the model's classes are labels.txt."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    served = [name.decode("utf-8") for name in model.predict([buffer.getvalue()])["classes"][0]]
    if served != list(model.labels):
        raise FairvisionError(f"{model.path / LABELS_FILE}: lists {list(model.labels)}, but the model's signature "
                              f"returns classes {served}; export the model again with `fairvision train`")


def _reason(message: str) -> str:
    """TensorFlow's own words for what failed, without its graph-execution framing and node names."""
    message = re.split(r"\s*\[\[\{\{node ", message, maxsplit=1)[0]
    lines = [line.strip() for line in message.splitlines()]
    lines = [line for line in lines
             if line and not line.startswith(("Graph execution error", "Detected at node", "<stack traces"))]
    return lines[-1] if lines else "no details"
