"""Every stage, through the CLI as DVC calls it, on a tiny synthetic dataset with a strong plant.

The plant is the ground truth: the audit must flag the planted group, and the report must
show it flagged next to the privileged group.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
import yaml

from fairvision.cli import main
from fairvision.models.export import load_classifier

ROOT = Path(__file__).resolve().parents[1]
PLANTED = "Latino_Hispanic"


def tiny_params(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"].update(n_train=700, n_val=350, image_size=32)
    params["synth"]["bias"].update(group=PLANTED, train_fraction=0.5, contrast=0.0, label_noise=0.0)
    params["train"].update(image_size=32, batch_size=32, epochs=3, learning_rate=0.003)
    params["backbones"] = {"small_cnn": {"width": 8}}
    params["audit"]["min_group_size"] = 10
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("pipeline")
    tiny_params(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        for command in (["synth"], ["prepare"], ["train", "small_cnn"], ["evaluate", "small_cnn"],
                        ["audit", "small_cnn"], ["report"]):
            assert main(command) == 0, command
    return tmp_path


def test_audit_flags_the_planted_group(pipeline: Path) -> None:
    fairness = json.loads((pipeline / "audits/small_cnn/fairness.json").read_text())
    race = fairness["attributes"]["race"]
    assert PLANTED in race["flagged_groups"]
    assert race["groups"][PLANTED]["accuracy"] < race["groups"][race["privileged"]]["accuracy"] - 0.2
    error_gaps = {g: c["metrics"]["error_rate_difference"] for g, c in race["comparisons"].items()}
    assert [g for g, gap in error_gaps.items() if gap["flagged"]] == [PLANTED]
    assert max(error_gaps, key=lambda g: error_gaps[g]["value"]) == PLANTED
    assert set(fairness["attributes"]) == {"race", "age"}


def test_report_shows_both_groups_and_flags_the_planted_one(pipeline: Path) -> None:
    reports = pipeline / "reports"
    assert {p.name for p in reports.iterdir()} == {"index.html", "small_cnn.html", "small_cnn.card.json"}
    page = (reports / "small_cnn.html").read_text()
    privileged = json.loads((pipeline / "audits/small_cnn/fairness.json").read_text())["attributes"]["race"]["privileged"]

    def row(group: str) -> str:
        return "".join(re.findall(rf'<tr[^>]*data-group="{re.escape(group)}"[^>]*>.*?</tr>', page, re.S))

    assert "FLAGGED" in row(PLANTED)
    assert row(privileged) and "FLAGGED" not in row(privileged)
    assert not re.search(r"(src|href)=\"https?://", page)
    card = json.loads((reports / "small_cnn.card.json").read_text())
    assert card["flagged"]["race"] == [PLANTED]


def test_model_and_predictions_follow_the_contracts(pipeline: Path) -> None:
    model = pipeline / "models/small_cnn"
    assert (model / "labels.txt").read_text().split() == ["Female", "Male"]
    history = pd.read_csv(model / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert history["epoch"].tolist() == [1, 2, 3]

    predictions = pd.read_parquet(pipeline / "audits/small_cnn/predictions.parquet")
    manifest = pd.read_parquet(pipeline / "data/prepared/synthetic/manifest.parquet")
    assert sorted(predictions["id"]) == sorted(manifest.loc[manifest["split"] == "test", "id"])
    assert {"prob_Female", "prob_Male", "race", "gender", "age", "label", "pred"} <= set(predictions.columns)
    assert predictions[["prob_Female", "prob_Male"]].sum(axis=1).round(4).eq(1).all()

    # The exported signature takes encoded bytes, as a TF Serving client sends them.
    serve = load_classifier(model)
    first = manifest[manifest["split"] == "test"].iloc[0]
    with zipfile.ZipFile(pipeline / "data/raw/synthetic/fairface-img-margin025-trainval.zip") as archive:
        image = archive.read(first["image"])
    outputs = serve(image_bytes=tf.constant([image]))
    assert [c.decode() for c in outputs["classes"].numpy()[0]] == ["Female", "Male"]
    expected = predictions.set_index("id").loc[first["id"], ["prob_Female", "prob_Male"]].to_numpy(dtype=float)
    assert outputs["probabilities"].numpy()[0] == pytest.approx(expected, abs=1e-5)
