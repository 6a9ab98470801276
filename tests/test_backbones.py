"""Backbone registry: every entry builds a classifier over raw pixels; bad options are named."""

from __future__ import annotations

import numpy as np
import pytest

from fairvision.errors import FairvisionError
from fairvision.models.backbones import BACKBONES, BATCHNORM_MOMENTUM, build_backbone


@pytest.mark.parametrize(("name", "options"), [
    ("small_cnn", {"width": 8}), ("mobilenet_v2", {"alpha": 0.35}), ("efficientnet_b0", {}), ("resnet50", {}),
])
def test_builds_a_probability_classifier(name: str, options: dict) -> None:
    model = build_backbone(name, 32, 3, options)
    probabilities = np.asarray(model(np.full((2, 32, 32, 3), 128.0, dtype="float32"), training=False))
    assert probabilities.shape == (2, 3)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    momenta = {layer.momentum for layer in _all_layers(model) if hasattr(layer, "moving_mean")}
    assert momenta == {BATCHNORM_MOMENTUM}


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def test_registry_names() -> None:
    assert {"small_cnn", "mobilenet_v2", "efficientnet_b0", "resnet50"} <= set(BACKBONES)


def test_batchnorm_momentum_is_an_option_of_every_backbone() -> None:
    model = build_backbone("small_cnn", 16, 2, {"width": 4, "batchnorm_momentum": 0.99})
    assert {layer.momentum for layer in _all_layers(model) if hasattr(layer, "moving_mean")} == {0.99}
    with pytest.raises(FairvisionError, match=r"`backbones.resnet50.batchnorm_momentum` must be a number in \(0, 1\)"):
        build_backbone("resnet50", 32, 2, {"batchnorm_momentum": 1.5})


def test_freeze_epochs_is_taken_only_by_backbones_with_a_base_network() -> None:
    with pytest.raises(FairvisionError,
                       match=r"`backbones.small_cnn.freeze_epochs`; small_cnn takes: width, batchnorm"):
        build_backbone("small_cnn", 32, 2, {"freeze_epochs": 1})
    with pytest.raises(FairvisionError,
                       match=r"`backbones.resnet50.freeze_epochs` must be an integer >= 0; received -1"):
        build_backbone("resnet50", 32, 2, {"freeze_epochs": -1})


def test_unknown_option_names_the_params_key() -> None:
    with pytest.raises(FairvisionError, match=r"`backbones.small_cnn.depth`; small_cnn takes: width"):
        build_backbone("small_cnn", 32, 2, {"depth": 3})
    with pytest.raises(FairvisionError, match=r"`backbones.small_cnn` options \{'width': 0\} rejected"):
        build_backbone("small_cnn", 32, 2, {"width": 0})
