"""Explainers, sampling and aggregation, checked against a model whose evidence is known.

The quadrant model is trained here on images where only the top-left quadrant carries the label
(a green square there means "present"; red and blue squares elsewhere mean nothing), so a
faithful explainer must put most of an image's saliency there, and deleting pixels in its order
must hurt the prediction faster than deleting them at random. The model is a small local
network (two conv blocks, then global pooling): its last feature map keeps locations, which
Grad-CAM needs. A registered backbone at 32 px would not do: small_cnn's last map sees the whole
image from every cell.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from fairvision.errors import FairvisionError
from fairvision.explain.aggregate import compare, disparity, group_maps
from fairvision.explain.faithfulness import curves
from fairvision.explain.methods import EXPLAINERS, build_explainer, require_explainers
from fairvision.explain.model import load_explained
from fairvision.explain.sampling import sample_images
from fairvision.models.backbones import BACKBONES, build_backbone
from fairvision.models.endpoints import _split, gradcam_layer
from fairvision.models.export import export_classifier, write_labels
from fairvision.params import Explain, Lime

SIDE = 32
GREEN, DISTRACTORS = np.array([30, 220, 30]), np.array([[220, 30, 30], [30, 30, 220]])
METHODS = ("gradcam", "integrated_gradients", "lime")
PARAMS = Explain(methods=METHODS, images_per_group=4, seed=0,
                 lime=Lime(images_per_group=2, samples=300, batch_size=300, segmentation="slic",
                           segmentation_options={"n_segments": 40, "compactness": 10}),
                 integrated_gradients_steps=16, resamples=100, level=0.95, faithfulness_steps=8,
                 faithfulness_images_per_group=4)


def quadrant_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Dark noise, a red or blue square in each of three quadrants, a green one top-left iff the label is 1."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n, SIDE, SIDE, 3)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    half = SIDE // 2
    for image, label in zip(images, labels):
        for quadrant, (top, left) in enumerate(((0, 0), (0, half), (half, 0), (half, half))):
            if quadrant == 0 and not label:
                continue
            y, x = rng.integers(1, half - 7, 2)
            image[top + y:top + y + 6, left + x:left + x + 6] = GREEN if quadrant == 0 else DISTRACTORS[rng.integers(2)]
    return images, labels


@pytest.fixture(scope="module")
def quadrant_model(tmp_path_factory: pytest.TempPathFactory):
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((SIDE, SIDE, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    for _ in range(2):
        x = layers.MaxPooling2D()(layers.Conv2D(8, 3, padding="same", activation="relu")(x))
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(x)))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    images, labels = quadrant_images(1200, seed=0)
    model.fit(images, labels, batch_size=64, epochs=3, verbose=0)
    folder = tmp_path_factory.mktemp("quadrant") / "model"
    export_classifier(model, ["absent", "present"], SIDE, folder)
    write_labels(folder, ["absent", "present"])
    return load_explained(folder)


@pytest.fixture(scope="module")
def present(quadrant_model) -> tuple[np.ndarray, np.ndarray]:
    """Test images the model calls "present" (an absent square has no location to point at), and their class."""
    images, labels = quadrant_images(48, seed=1)
    predicted = quadrant_model.probabilities(images).argmax(axis=1)
    assert (predicted == labels).mean() > 0.95  # the model did learn the quadrant
    chosen = images[predicted == 1][:12]
    return chosen, np.ones(len(chosen), np.int32)


def test_the_registry_holds_the_documented_methods_and_names_an_unknown_one() -> None:
    assert sorted(EXPLAINERS) == sorted(METHODS)
    with pytest.raises(FairvisionError, match=r"unknown explainer 'shap' in `explain.methods`; known: gradcam, "):
        require_explainers(("lime", "shap"))


def test_the_endpoints_report_the_artifact(quadrant_model) -> None:
    assert quadrant_model.image_size == SIDE and quadrant_model.labels == ("absent", "present")


def test_the_embeddings_endpoint_is_the_classifiers_input(quadrant_model) -> None:
    """Discovery's embeddings are the served model's penultimate layer: its Dense head maps them to the served
    probabilities."""
    images, _ = quadrant_images(20, seed=2)
    embeddings = quadrant_model.embeddings(images, batch_size=8)  # batches joined in order
    dense = next(v for v in quadrant_model.loaded.variables if len(v.shape) == 2).numpy()
    bias = next(v for v in quadrant_model.loaded.variables if len(v.shape) == 1 and v.shape[0] == 2).numpy()
    logits = embeddings @ dense + bias
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert embeddings.shape == (20, 8)  # the last conv block's 8 channels, pooled
    assert np.allclose(softmax / softmax.sum(axis=1, keepdims=True), quadrant_model.probabilities(images), atol=1e-5)
    assert quadrant_model.embeddings(images[:0]).shape == (0, 8)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_puts_most_saliency_in_the_quadrant_that_carries_the_label(quadrant_model, present,
                                                                                method: str) -> None:
    images, classes = present
    maps = build_explainer(method, quadrant_model, PARAMS)(images, classes)
    assert maps.shape == (len(images), SIDE, SIDE) and np.allclose(maps.sum(axis=(1, 2)), 1) and (maps >= 0).all()
    in_quadrant = maps[:, :SIDE // 2, :SIDE // 2].sum(axis=(1, 2))  # a uniform map would put 0.25 there
    assert in_quadrant.mean() > 0.5, (method, in_quadrant.round(2))

    rng = np.random.default_rng(0)
    own = curves(quadrant_model, images, classes, maps, steps=8, rng=rng).areas()
    random = curves(quadrant_model, images, classes, rng.random(maps.shape), steps=8, rng=rng).areas()
    assert own[0].mean() < random[0].mean(), (method, own[0].mean(), random[0].mean())  # deletion: lower is better


def test_curves_start_at_the_prediction_and_end_on_the_flat_image(quadrant_model, present) -> None:
    images, classes = present
    result = curves(quadrant_model, images, classes, np.random.default_rng(0).random(images.shape[:3]), steps=4,
                    rng=np.random.default_rng(0))
    probability = quadrant_model.probabilities(images)[:, 1]
    flat = quadrant_model.probabilities(np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape))[:, 1]
    assert np.allclose(result.deletion[:, 0], probability, atol=1e-5)
    assert np.allclose(result.insertion[:, -1], probability, atol=1e-5)
    assert np.allclose(result.deletion[:, -1], flat, atol=1e-5) and np.allclose(result.insertion[:, 0], flat, atol=1e-5)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_gradcam_finds_the_map_global_pooling_averages_in_every_backbone(backbone: str) -> None:
    model = build_backbone(backbone, 32, 2, {"width": 4} if backbone == "small_cnn" else {})
    network = next((layer for layer in model.layers if isinstance(layer, keras.Model)), model)
    found = gradcam_layer(network)
    assert isinstance(network.layers[network.layers.index(found) + 1], keras.layers.GlobalAveragePooling2D)
    trunk, rest, dense = _split(model)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    logits = rest(trunk(pixels, training=False), training=False) @ dense.kernel + dense.bias
    assert np.allclose(keras.ops.softmax(logits), model(pixels, training=False), atol=1e-5)


def predictions_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for index in range(400):
        group = ("a", "b", "c")[index % 3]
        correct = rng.random() < (0.9 if group != "c" else 0.6)
        rows.append({"id": f"{index:04d}", "label": "x", "pred": "x" if correct else "y", "race": group})
    return pd.DataFrame(rows)


def test_the_sample_is_stratified_seeded_and_alternates_strata() -> None:
    predictions = predictions_table()
    sample = sample_images(predictions, ("race",), 6, 0, "predictions.parquet")
    again = sample_images(predictions.sample(frac=1, random_state=1), ("race",), 6, 0, "predictions.parquet")
    pd.testing.assert_frame_equal(sample, again)  # the rows' order in the file does not matter
    assert not sample.equals(sample_images(predictions, ("race",), 6, 1, "predictions.parquet"))
    for group, rows in sample.groupby("group"):
        assert len(rows) == 6 and rows["correct"].sum() == 3  # half wrong although most are right
        assert list(rows.sort_values("rank")["correct"]) == [True, False] * 3
        members = predictions[predictions["race"] == group]
        share = (members["label"] == members["pred"]).mean()
        assert np.allclose(rows.loc[rows["correct"], "stratum_share"], share)


def test_a_group_short_of_errors_fills_up_with_correct_images() -> None:
    predictions = predictions_table()
    predictions.loc[predictions["race"] == "a", "pred"] = "x"  # group a: no errors at all
    rows = sample_images(predictions, ("race",), 6, 0, "p").query("group == 'a'")
    assert len(rows) == 6 and rows["correct"].all()


def test_disparity_is_zero_for_the_same_map_and_two_for_its_opposite() -> None:
    rng = np.random.default_rng(0)
    first = rng.random((8, 8))
    assert abs(disparity(first, 3 * first)) < 1e-12
    assert abs(disparity(first, -first) - 2) < 1e-12
    assert np.isnan(disparity(first, np.ones((8, 8))))


def group_of(maps: np.ndarray, start: int) -> dict:
    ids = [f"{start + i}" for i in range(len(maps))]
    rows = pd.DataFrame({"id": ids, "correct": [i % 2 == 0 for i in range(len(maps))], "stratum_share": 0.5})
    return rows, dict(zip(ids, maps))


def test_the_permutation_test_tells_a_different_group_from_chance() -> None:
    rng = np.random.default_rng(0)
    left, right = np.zeros((8, 8)), np.zeros((8, 8))
    left[:, :4], right[:, 4:] = 1, 1
    noisy = lambda base, n: base + rng.random((n, 8, 8))  # noqa: E731
    reference = group_maps(*group_of(noisy(left, 10), 0))
    same = compare(group_maps(*group_of(noisy(left, 10), 100)), reference, resamples=200, level=0.95, rng=rng)
    other = compare(group_maps(*group_of(noisy(right, 10), 200)), reference, resamples=200, level=0.95, rng=rng)
    assert other.p_value < 0.01 < same.p_value and other.value > 1
    assert same.low <= same.high < other.low <= other.high


def test_a_group_mean_weights_each_stratum_by_its_share_of_the_test_set() -> None:
    rows = pd.DataFrame({"id": ["1", "2", "3"], "correct": [True, False, False], "stratum_share": [0.9, 0.1, 0.1]})
    maps = {"1": np.full((2, 2), 1.0), "2": np.zeros((2, 2)), "3": np.zeros((2, 2))}
    found = group_maps(rows, maps)
    assert np.allclose(found.mean, 0.9) and np.allclose(found.stratum_mean(False), 0)
    only_correct = group_maps(rows, {"1": maps["1"]})  # LIME's subset: one stratum present, it carries the mean
    assert np.allclose(only_correct.mean, 1.0) and only_correct.stratum_mean(False) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"methods": ["lime", "lime"]}, "`params.explain.methods` must be a non-empty list of explainer names (e.g. "
                                    "gradcam, integrated_gradients, lime), without repeats, got ['lime', 'lime']"),
    ({"images_per_group": 0}, "`params.explain.images_per_group` must be an integer >= 1, got 0"),
    ({"lime": {"samples": 5}}, "`params.explain.lime.samples` must be an integer >= 10, got 5"),
    ({"lime": {"images_per_group": 9}}, "`params.explain.lime.images_per_group` must be an integer in [1, 8]"),
    ({"lime": {"segmentation": "watershed"}}, "`params.explain.lime.segmentation` must be one of quickshift, slic, "
                                              "felzenszwalb, got 'watershed'"),
    ({"lime": {"segmentation_options": {"kernel_size": 3}}},
     "unknown key `params.explain.lime.segmentation_options.kernel_size`; slic takes: n_segments, compactness, sigma"),
    ({"lime": {"segmentation_options": {"n_segments": 2.5}}},
     "`params.explain.lime.segmentation_options.n_segments` must be an integer >= 1, got 2.5"),
    ({"bootstrap": {"level": 1.5}}, "`params.explain.bootstrap.level` must be a number in [0.5, 0.999], got 1.5"),
    ({"faithfulness": {"steps": 1}}, "`params.explain.faithfulness.steps` must be an integer >= 2, got 1"),
])
def test_explain_params_errors_name_the_key(tmp_path, change: dict, message: str) -> None:
    import yaml

    from fairvision.errors import FairvisionError
    from fairvision.params import load_params
    from dvc_project import ROOT, merge

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["explain"] = merge(params["explain"], change)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(FairvisionError) as error:
        load_params(tmp_path / "params.yaml")
    assert message in str(error.value)


def test_batched_lime_neighbourhood_is_limes_own() -> None:
    """The batched perturbation gives lime's own draws, images, classifier batches and labels, bit for bit."""
    from lime.lime_image import LimeImageExplainer

    from fairvision.explain.lime_explainer import _batched_data_labels, segmenter

    image = np.random.default_rng(3).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    segments = segmenter("slic", {"n_segments": 12, "compactness": 10}, 0)(image)
    fudged = np.zeros_like(image)
    batches: dict[str, list[np.ndarray]] = {"lime": [], "batched": []}

    def recorder(name: str):
        def classify(images) -> np.ndarray:  # lime passes arrays; the batched version, tensors
            images = np.array(images)
            batches[name].append(images)
            return images.reshape(len(images), -1).mean(axis=1, keepdims=True) * [1.0, -1.0]
        return classify

    lime_own, batched = LimeImageExplainer(random_state=4), LimeImageExplainer(random_state=4)
    expected = lime_own.data_labels(image, fudged, segments, recorder("lime"), 45, batch_size=20)
    got = _batched_data_labels(batched)(image, fudged, segments, recorder("batched"), 45, batch_size=20)
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have, want)
    assert [len(b) for b in batches["batched"]] == [20, 20, 5]
    for want, have in zip(batches["lime"], batches["batched"], strict=True):
        assert have.dtype == want.dtype
        np.testing.assert_array_equal(have, want)
    with pytest.raises(ValueError, match="numbered 0 to"):
        _batched_data_labels(batched)(image, fudged, segments + 1, recorder("batched"), 5)
