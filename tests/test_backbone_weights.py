"""The `weights` option of keras.applications backbones: none, imagenet (Keras' cached file), or a local file.

On a machine without internet (this one, many CI runners) `imagenet` must fail at once, before
anything is built, saying what to do, unless Keras' file is already in its cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras.src.backend import config
from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

from fairvision.errors import FairvisionError
from fairvision.models import backbones
from fairvision.models.backbones import base_network, build_backbone

IMAGENET_FILES = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"),
    "efficientnet_b0": ("EfficientNetB0", "efficientnetb0_notop.h5"),
    "resnet50": ("ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
}
MOBILENET = {"alpha": 0.35}
# Keras' h5 weight writers trip a numpy 2 deprecation once per variable; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache, as KERAS_HOME=<tmp> would give (Keras reads that variable at import only)."""
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", IMAGENET_FILES)
def test_imagenet_offline_fails_at_once_saying_what_to_do(name: str, keras_home: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    application, file_name = IMAGENET_FILES[name]
    monkeypatch.setattr(backbones, "_reachable", lambda host: False)
    monkeypatch.setattr(keras.applications, application, _must_not_build)
    options = {"weights": "imagenet", **(MOBILENET if name == "mobilenet_v2" else {})}
    with pytest.raises(FairvisionError) as error:
        build_backbone(name, 32, 2, options)
    message = str(error.value)
    assert f"`backbones.{name}.weights: imagenet`" in message and "offline" in message
    assert str(keras_home / "models" / file_name) in message and "https://storage.googleapis.com/" in message


def test_an_unresolvable_host_is_unreachable() -> None:
    assert backbones._reachable("invalid.invalid") is False


def test_imagenet_uses_keras_cached_file_without_the_network(keras_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras' file name is the one checked: a file there is loaded, no connection tried."""
    keras.utils.set_random_seed(0)
    saved = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    (keras_home / "models").mkdir()
    with h5py.File(keras_home / "models" / IMAGENET_FILES["mobilenet_v2"][1], "w") as handle:
        save_weights_to_hdf5_group(handle, saved)  # the legacy .h5 format of Keras' ImageNet files
    monkeypatch.setattr(backbones, "_reachable", _must_not_connect)
    keras.utils.set_random_seed(1)
    with pytest.warns(UserWarning, match="Weights for input shape \\(224, 224\\)"):
        model = build_backbone("mobilenet_v2", 32, 2, {"weights": "imagenet", **MOBILENET})
    _assert_same(base_network(model).get_weights(), saved.get_weights())


def test_a_local_weights_file_is_loaded_into_the_base_network(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    saved = base_network(build_backbone("mobilenet_v2", 32, 2, MOBILENET))
    saved.save_weights(tmp_path / "base.weights.h5")
    keras.utils.set_random_seed(1)
    model = build_backbone("mobilenet_v2", 32, 2, {"weights": weights_file(tmp_path / "base.weights.h5"), **MOBILENET})
    _assert_same(base_network(model).get_weights(), saved.get_weights())


def test_keras_efficientnet_imagenet_file_by_path_scales_inputs_as_imagenet_does(tmp_path: Path) -> None:
    """Keras' file holds standard deviations as variances; `weights: imagenet` compensates, and so must a path."""
    from keras.src.applications.efficientnet import IMAGENET_STDDEV_RGB

    mean = np.array([0.485, 0.456, 0.406], dtype="float32")
    saved = keras.applications.EfficientNetB0(input_shape=(32, 32, 3), include_top=False, weights=None)
    normalization = _normalization(saved)
    normalization.adapt_mean.assign(mean)
    normalization.adapt_variance.assign(IMAGENET_STDDEV_RGB)  # as in efficientnetb0_notop.h5
    with h5py.File(tmp_path / "efficientnetb0_notop.h5", "w") as handle:
        save_weights_to_hdf5_group(handle, saved)
    model = build_backbone("efficientnet_b0", 32, 2, {"weights": weights_file(tmp_path / "efficientnetb0_notop.h5")})
    loaded = _normalization(base_network(model))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(pixels / 255), (pixels / 255 - mean) / IMAGENET_STDDEV_RGB, rtol=1e-5)


def _normalization(base: keras.Model) -> keras.layers.Normalization:
    return next(layer for layer in base.layers if isinstance(layer, keras.layers.Normalization))


def weights_file(path: Path) -> dict[str, str]:
    """`weights:` for the file at ``path``, as params.yaml gives it: its path and SHA-256."""
    return {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_a_missing_weights_file_names_the_key_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(FairvisionError, match=rf"`backbones.resnet50.weights`: no weights file at {missing}"):
        build_backbone("resnet50", 32, 2, {"weights": {"file": str(missing), "sha256": "0" * 64}})


def test_a_weights_file_that_changed_under_its_hash_is_refused_before_any_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC reruns training when `backbones.<B>` changes, and cannot see the file itself: its hash must say it."""
    path = tmp_path / "base.weights.h5"
    path.write_bytes(b"the first weights")
    given = weights_file(path)
    path.write_bytes(b"other weights")
    monkeypatch.setattr(keras.applications, "ResNet50", _must_not_build)
    with pytest.raises(FairvisionError, match=rf"`backbones.resnet50.weights`.sha256 is {given['sha256']}, but "
                                              rf"{path}'s is {hashlib.sha256(b'other weights').hexdigest()}: the "
                                              "file changed"):
        build_backbone("resnet50", 32, 2, {"weights": given})


def test_a_weights_file_without_its_hash_is_refused_with_the_hash_to_give(tmp_path: Path) -> None:
    path = tmp_path / "base.weights.h5"
    path.write_bytes(b"weights")
    with pytest.raises(FairvisionError, match=rf"a weights file is given with its hash, `{{file: {path}, sha256: "
                                              rf"...}}`, so that DVC retrains when the file changes; {path}'s is "
                                              f"{hashlib.sha256(b'weights').hexdigest()}"):
        build_backbone("resnet50", 32, 2, {"weights": str(path)})


def _assert_same(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    assert all(np.array_equal(a, e) for a, e in zip(actual, expected))


def _must_not_build(*args, **kwargs):
    raise AssertionError("the network was built before the weights were checked")


def _must_not_connect(host: str) -> bool:
    raise AssertionError(f"tried to reach {host} although Keras' file is cached")
