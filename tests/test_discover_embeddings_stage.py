"""`fairvision discover` on a trained model: its `embeddings` endpoint read, a cohort found there described with
example images under their Grad-CAM maps, and the report showing it.

The tiny dataset's model is trained for real; its predictions are then rewritten so that the model is wrong exactly
on the test images furthest along the first principal axis of its own embeddings (what a model failing, say, faces
with glasses looks like to the search), a cohort no attribute names. What the model learnt is never asserted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import trained_tiny_project
from fairvision.cli import main

OUT = Path("audits/synthetic/small_cnn")
PREDICTIONS = OUT / "predictions/seed-0.parquet"
MODEL = Path("models/synthetic/small_cnn/seed-0")


@pytest.fixture(scope="module")
def project(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset with small_cnn trained and evaluated, its predictions wrong along its embeddings."""
    def edit(params: dict) -> None:
        params["train"]["epochs"] = 1
        params["audit"]["bootstrap"]["resamples"] = 50
        params["discover"].update(min_cohort_size=5, mdss={"subsets": 0, "iterations": 1, "penalty": 1.0})
        params["discover"]["embeddings"].update(components=3, dimensions=4)

    folder = trained_tiny_project(tiny_prepared, tmp_path_factory.mktemp("discover-embeddings") / "project", edit)
    _wrong_along_the_embeddings(folder)
    return folder


def _wrong_along_the_embeddings(folder: Path) -> None:
    from fairvision.explain.model import load_explained
    from fairvision.models.endpoints import EMBEDDINGS
    from fairvision.models.pixels import read_test_pixels

    table = pd.read_parquet(folder / PREDICTIONS)
    model = load_explained(folder / MODEL, (EMBEDDINGS,))
    embeddings = model.embeddings(read_test_pixels(folder / "data/prepared/synthetic", list(table["id"]),
                                                   model.image_size))
    centred = embeddings - embeddings.mean(axis=0)
    score = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    wrong = score >= np.quantile(score, 0.7)
    other = {label: next(x for x in model.labels if x != label) for label in model.labels}
    table["pred"] = np.where(wrong, table["label"].map(other), table["label"])
    table.to_parquet(folder / PREDICTIONS)


def test_a_cohort_in_the_embeddings_is_selected_described_and_drawn(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    assert main(["discover", "small_cnn"]) == 0
    written = json.loads((OUT / "cohorts.json").read_text(encoding="utf-8"))
    search = written["search"]["embeddings"]
    assert search["principal_components"] <= 4 and search["components"] == 3 and search["top"] == [0.1, 0.2]
    selected = [row for row in written["cohorts"] if row["selected"] and row["source"] in ("mixture", "direction")]
    assert selected and all(row["conditions"] == {} and row["lineage"] == "own" for row in selected)
    described = {row["cohort"]: row["description"] for row in search["cohorts"] if row["description"]}
    assert set(described) == {row["cohort"] for row in selected}
    examples = json.loads((OUT / "cohort-examples/examples.json").read_text(encoding="utf-8"))["cohorts"]
    assert set(examples) == set(described)
    table = pd.read_parquet(PREDICTIONS).set_index("id")
    for name, description in described.items():
        assert examples[name]["ids"] == description["examples"]
        assert (table.loc[description["examples"], "label"] != table.loc[description["examples"], "pred"]).all()
        picture = OUT / "cohort-examples" / examples[name]["picture"]
        with Image.open(picture) as image:  # one 16-px tile per example, a pixel apart
            assert image.size == (16 * len(description["examples"]) + len(description["examples"]) - 1, 16)

    before = {p.name: p.read_bytes() for p in (OUT / "cohort-examples").iterdir()}
    first = (OUT / "cohorts.json").read_bytes()
    assert main(["discover", "small_cnn"]) == 0  # seeded: a rerun writes the same bytes
    assert (OUT / "cohorts.json").read_bytes() == first
    assert {p.name: p.read_bytes() for p in (OUT / "cohort-examples").iterdir()} == before


def test_the_report_shows_each_described_cohort_with_its_examples(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    if not (OUT / "cohorts.json").exists():  # when run alone
        assert main(["discover", "small_cnn"]) == 0
    assert main(["audit", "small_cnn"]) == 0 and main(["report"]) == 0
    section = json.loads(Path("reports/synthetic/small_cnn.card.json").read_text(encoding="utf-8"))["cohorts"]
    described = section["embeddings"]["described"]
    assert described and all(found["picture"] for found in described)
    page = Path("reports/synthetic/small_cnn.html").read_text(encoding="utf-8")
    for found in described:
        assert f'data-embedding-cohort="{found["cohort"]}"' in page
    assert page.count('<img class="strip" src="data:image/') == len(described)


def test_a_model_exported_without_the_embeddings_endpoint_is_refused_naming_the_retrain(
        project: Path, monkeypatch, capsys, tmp_path: Path) -> None:
    import tensorflow as tf

    monkeypatch.chdir(project)
    old = tmp_path / "old"
    module = tf.Module()
    module.probabilities = tf.function(lambda pixels: {"probabilities": pixels},
                                       input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)])
    tf.saved_model.save(module, str(old))
    shutil.copy(MODEL / "labels.txt", old / "labels.txt")
    backup = project / "kept-model"
    shutil.move(MODEL, backup)
    try:
        shutil.copytree(old, MODEL)
        assert main(["discover", "small_cnn"]) == 1
        error = capsys.readouterr().err
        assert "without the `embeddings`, `saliency` endpoint(s)" in error and "fairvision train small_cnn" in error
    finally:
        shutil.rmtree(MODEL)
        shutil.move(backup, MODEL)
