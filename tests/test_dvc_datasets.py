"""Several datasets in one benchmark: one `dvc repro` trains and audits every backbone on every dataset.

The reproduced tiny pipeline gets a second dataset next to the synthetic one: an image folder
with a side CSV of its own protected attribute. The stage definitions stay as they are
(`foreach` over `datasets`, `matrix` over datasets × backbones): the new dataset's stages run,
the synthetic dataset's stay up to date, and each dataset has its own report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import encode_image
from dvc_project import Project, copy_project

SHAPES = {"source": {"format": "image_folder", "path": "data/raw/shapes", "attributes": "attributes.csv"},
          "target": "label", "protected": ["lighting"], "reference": {"lighting": "day"}, "intersections": []}


def write_shapes(root: Path) -> None:
    """120 PNGs in <label>/<image> folders, dark or bright by label, with a `lighting` attribute."""
    rows = ["image,lighting"]
    for n in range(120):
        label = ("circle", "square")[n % 2]
        key = f"{label}/{n:03d}.png"
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(encode_image((230 if n % 2 else 25, 40 + n, 120), "PNG", size=16))
        rows.append(f"{key},{('day', 'night')[n // 2 % 2]}")
    (root / "attributes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, reproduced_project: Project) -> Project:
    """The reproduced tiny pipeline plus the shapes dataset: only the new dataset's stages run."""
    project = copy_project(reproduced_project, tmp_path_factory.mktemp("datasets") / "project")
    project.write_params(project.params() | {"datasets": project.params()["datasets"] | {"shapes": SHAPES}})
    write_shapes(project.path / "data/raw/shapes")
    project.commit("a second dataset")
    ran = re.findall(r"Running stage '([^']+)'", project.dvc("repro").stdout)
    assert set(ran) == {"prepare@shapes", "train@shapes-small_cnn-0", "evaluate@shapes-small_cnn-0",
                        "audit@shapes-small_cnn", "discover@shapes-small_cnn", "explain@shapes-small_cnn",
                        "report@shapes"}
    return project


def test_every_backbone_is_audited_on_every_dataset(project: Project) -> None:
    for dataset, partition in (("synthetic", "race"), ("shapes", "lighting")):
        fairness = json.loads((project.path / f"audits/{dataset}/small_cnn/fairness.json").read_text("utf-8"))
        assert fairness["dataset"] == dataset and fairness["backbone"] == "small_cnn"
        assert partition in fairness["partitions"]
        assert (project.path / f"models/{dataset}/small_cnn/seed-0/saved_model.pb").is_file()
    shapes = json.loads((project.path / "audits/shapes/small_cnn/fairness.json").read_text("utf-8"))
    assert shapes["labels"] == ["circle", "square"] and shapes["partitions"]["lighting"]["reference"] == "day"
    assert project.changed_stages() == set()


def test_each_dataset_gets_its_own_report(project: Project) -> None:
    for dataset, own, other in (("synthetic", "Latino_Hispanic", "lighting"),
                                ("shapes", "lighting", "Latino_Hispanic")):
        folder = project.path / "reports" / dataset
        assert {p.name for p in folder.iterdir()} == {"index.html", "small_cnn.html", "small_cnn.card.json",
                                                      "badge.svg", "small_cnn.badge.svg"}
        page = (folder / "small_cnn.html").read_text(encoding="utf-8")
        assert own in page and other not in page
        assert json.loads((folder / "small_cnn.card.json").read_text("utf-8"))["evaluation_data"]["dataset"] == dataset


def test_metrics_and_plots_cover_both_datasets(project: Project) -> None:
    metrics = json.loads(project.dvc("metrics", "show", "--json").stdout)
    files = {name for workspace in metrics.values() for name in workspace["data"]}
    assert {"audits/synthetic/small_cnn/headline.json", "audits/shapes/small_cnn/headline.json"} <= files
    plots = json.loads(project.dvc("plots", "show", "--json", "--split").stdout)["data"]
    assert {"training/synthetic/small_cnn/seed-0/history.csv", "training/shapes/small_cnn/seed-0/history.csv",
            "groups/shapes/small_cnn/lighting.accuracy.csv"} <= set(plots)


def test_one_datasets_change_reruns_only_its_own_stages(project: Project) -> None:
    params = project.params()
    params["datasets"]["shapes"]["reference"]["lighting"] = "night"
    project.write_params(params)
    assert project.changed_stages() == {"audit@shapes-small_cnn"}
