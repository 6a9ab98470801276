"""Batch prediction through the exported signature vs. one image per call.

The article's notebooks predicted the evaluation set one image at a time; `evaluate`
sends batches to the SavedModel's serving signature. The batched path must beat the
per-image baseline on the same model and images.

Run: `.venv/bin/pytest benchmarks --benchmark-group-by=group`
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fairvision.models.backbones import build_backbone
from fairvision.models.export import export_classifier, load_classifier

N_IMAGES = 128
IMAGE_SIZE = 64
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def classify(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("model") / "small_cnn"
    tf.keras.utils.set_random_seed(0)
    export_classifier(build_backbone("small_cnn", IMAGE_SIZE, 2, {}), ["Female", "Male"], IMAGE_SIZE, path)
    return load_classifier(path)


@pytest.fixture(scope="module")
def images() -> tf.Tensor:
    rng = np.random.default_rng(0)
    encoded = []
    for _ in range(N_IMAGES):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).save(buffer, "JPEG")
        encoded.append(buffer.getvalue())
    return tf.constant(encoded)


@pytest.mark.benchmark(group="predict 128 images")
def test_baseline_one_image_per_call(benchmark, classify, images) -> None:
    def per_image() -> None:
        for index in range(N_IMAGES):
            classify(image_bytes=images[index : index + 1])

    benchmark.pedantic(per_image, rounds=3, warmup_rounds=1)
    RESULTS["per_image"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="predict 128 images")
def test_batched_signature_call(benchmark, classify, images) -> None:
    result = benchmark.pedantic(lambda: classify(image_bytes=images), rounds=5, warmup_rounds=1)
    assert result["probabilities"].shape == (N_IMAGES, 2)
    RESULTS["batched"] = benchmark.stats.stats.median
    assert "per_image" in RESULTS, "run the whole module: the baseline is measured first"
    assert RESULTS["batched"] < RESULTS["per_image"], RESULTS
