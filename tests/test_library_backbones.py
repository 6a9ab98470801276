"""keras.applications backbones at tiny size: each carries its application's input scaling inside the model,
so the exported SavedModel takes the same raw pixels as every other backbone.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from fairvision.models.backbones import base_network, build_backbone
from fairvision.models.export import export_classifier, load_classifier
from fairvision.models.train import fit

PREPROCESS = {
    "mobilenet_v2": keras.applications.mobilenet_v2.preprocess_input,
    "efficientnet_b0": keras.applications.efficientnet.preprocess_input,  # the identity: it scales inside
    "resnet50": keras.applications.resnet50.preprocess_input,
}
PIXELS = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", PREPROCESS)
def test_the_base_network_gets_its_applications_preprocessing(name: str) -> None:
    model = build_backbone(name, 32, 2, {"alpha": 0.35} if name == "mobilenet_v2" else {})
    base = base_network(model)
    assert len(base.layers) > 100  # the whole keras.applications network: what `freeze_epochs` freezes
    base_index = model.layers.index(base)
    scaling = keras.Model(model.input, model.layers[base_index - 1].output)
    pixels = PIXELS.astype("float32")
    np.testing.assert_allclose(scaling(pixels), PREPROCESS[name](pixels.copy()), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("name", ["efficientnet_b0", "resnet50"])
def test_trains_and_exports_with_its_preprocessing_inside(name: str, tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    model = build_backbone(name, 32, 2, {})
    pixels = PIXELS.astype("float32")
    data = tf.data.Dataset.from_tensor_slices((pixels, np.arange(4) % 2)).batch(4)
    tf.config.run_functions_eagerly(True)  # tracing the training step alone takes a minute on 2 CPUs
    try:
        history = fit(model, data, data, epochs=1, learning_rate=1e-3, strategy=tf.distribute.get_strategy(),
                      label=name).history
    finally:
        tf.config.run_functions_eagerly(False)
    assert np.isfinite(history[0]["loss"])
    export_classifier(model, ["a", "b"], 32, tmp_path)
    served = load_classifier(tmp_path)(image_bytes=tf.stack([tf.io.encode_png(image) for image in PIXELS]))
    np.testing.assert_allclose(served["probabilities"], model(pixels, training=False), atol=1e-5)
