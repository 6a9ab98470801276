"""The SavedModel's explanation endpoints, exported beside `serving_default` (which they leave unchanged).

`fairvision explain` and `fairvision discover` must read exactly the artifact that is served, and
nothing but it: the Keras model is not saved, and rebuilding it from params could describe a
different model. So the export adds three functions over decoded pixels (float32 [N, S, S, 3],
0-255, what ``decode_batch`` gives): ``probabilities`` for perturbation methods (LIME,
deletion/insertion curves), ``saliency`` for gradient methods, whose gradients are taken inside
the traced function (a restored SavedModel function has no gradient of its own), and
``embeddings``, the penultimate layer (the classifier's input), where discovery looks for
cohorts no label names. TensorFlow Serving ignores the extra signatures.

The score a gradient explains is the class's logit: the softmax probability of a confident
prediction saturates, and its gradient vanishes with it. Grad-CAM's layer is found here,
once, for every registered backbone: the last layer with a spatial (4-D) output, inside the
wrapped keras.applications network where there is one.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from fairvision.models.backbones import base_network

PROBABILITIES = "probabilities"  # endpoint: pixels -> {"probabilities"}
SALIENCY = "saliency"  # endpoint: pixels, class_index -> {"probabilities", "gradcam", "gradients"}
EMBEDDINGS = "embeddings"  # endpoint: pixels -> {"embeddings"}: the final Dense layer's input [N, D]


def gradcam_layer(network: keras.Model) -> keras.layers.Layer:
    """The last layer of ``network`` whose output is a spatial feature map: the one global pooling averages.

    There, with a linear head after the pooling, Grad-CAM's map is exactly each location's share
    of the class logit (Zhou et al.'s CAM); an earlier layer would be finer but only approximate.
    """
    spatial = [layer for layer in network.layers
               if len(layer.output.shape) == 4 and not isinstance(layer, keras.layers.InputLayer)]
    if not spatial:
        raise ValueError(f"{network.name}: no layer with a spatial output for Grad-CAM")
    return spatial[-1]


def _split(model: keras.Model) -> tuple[keras.Model, keras.Model, keras.layers.Dense]:
    """``model`` cut at its Grad-CAM layer: pixels -> feature map, feature map -> the final Dense's input; and
    that Dense layer.

    Two models, not one with two outputs, so the feature map the gradient is taken at is the very
    tensor the rest of the network consumes. Every backbone ends in the registry's shared head, a
    softmax Dense, whose logits are computed from its input and weights. A wrapped
    keras.applications network is cut inside; the layers around it are reused as they are.
    """
    dense = model.layers[-1]
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(f"{model.name}: the last layer must be the Dense classifier, found {dense.name}")
    base = base_network(model)
    if base is None:
        layer = gradcam_layer(model)
        return keras.Model(model.inputs[0], layer.output), keras.Model(layer.output, dense.input), dense
    layer = gradcam_layer(base)
    node = base._inbound_nodes[0]  # where the outer graph calls the base: its input and pooled output there
    before = keras.Model(model.inputs[0], node.input_tensors[0])
    after = keras.Model(node.output_tensors[0], dense.input)
    pixels, features = keras.Input(model.inputs[0].shape[1:]), keras.Input(layer.output.shape[1:])
    trunk = keras.Model(pixels, keras.Model(base.inputs, layer.output)(before(pixels)))
    rest = keras.Model(features, after(keras.Model(layer.output, base.output)(features)))
    return trunk, rest, dense


def explanation_endpoints(model: keras.Model, image_size: int) -> dict[str, tf.types.experimental.PolymorphicFunction]:
    """The traced endpoints to add to the export, by name."""
    trunk, rest, dense = _split(model)
    pixels_spec = tf.TensorSpec([None, image_size, image_size, 3], tf.float32, name="pixels")

    def logits_of(pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features = trunk(pixels, training=False)
        penultimate = tf.cast(rest(features, training=False), tf.float32)
        logits = tf.matmul(penultimate, tf.cast(dense.kernel, tf.float32)) + tf.cast(dense.bias, tf.float32)
        return features, logits

    @tf.function(input_signature=[pixels_spec])
    def embeddings(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"embeddings": tf.cast(rest(trunk(pixels, training=False), training=False), tf.float32)}

    @tf.function(input_signature=[pixels_spec])
    def probabilities(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": tf.cast(model(pixels, training=False), tf.float32)}

    @tf.function(input_signature=[pixels_spec, tf.TensorSpec([None], tf.int32, name="class_index")])
    def saliency(pixels: tf.Tensor, class_index: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            features, logits = logits_of(pixels)
            score = tf.reduce_sum(tf.gather(logits, class_index, batch_dims=1))  # images are independent
        feature_gradients, pixel_gradients = tape.gradient(score, [features, pixels])
        weights = tf.reduce_mean(feature_gradients, axis=[1, 2], keepdims=True)  # one weight per channel
        cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1, keepdims=True))
        cam = tf.image.resize(cam, (image_size, image_size), method="bilinear")[..., 0]
        return {"probabilities": tf.nn.softmax(logits), "gradcam": cam, "gradients": pixel_gradients}

    return {PROBABILITIES: probabilities, SALIENCY: saliency, EMBEDDINGS: embeddings}
