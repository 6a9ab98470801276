"""`fairvision explain` end to end on the tiny prepared dataset: train, evaluate, audit, then explain.

Checks what the stage promises: explanations.json with every method, each attribute's reference
group as the audit chose it, disparities with intervals and permutation p-values, faithfulness
against a random map, the PNGs it names; the same bytes on a second run; clear errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import trained_tiny_project
from fairvision.cli import main

EXPLAIN = {"methods": ["gradcam", "integrated_gradients", "lime"], "images_per_group": 2, "seed": 0,
           "lime": {"images_per_group": 1, "samples": 20, "batch_size": 64, "segmentation": "slic",
                    "segmentation_options": {"n_segments": 10, "compactness": 10}},
           "integrated_gradients": {"steps": 4}, "bootstrap": {"resamples": 20, "level": 0.9},
           "faithfulness": {"images_per_group": 1, "steps": 2}}
OUT = Path("audits/synthetic/small_cnn/explanations")


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def project(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset with small_cnn trained, evaluated and audited; explain not yet run."""
    def edit(params: dict) -> None:
        params["train"]["epochs"] = 2
        params["audit"]["bootstrap"]["resamples"] = 50
        params["explain"] = EXPLAIN

    return trained_tiny_project(tiny_prepared, tmp_path_factory.mktemp("explain") / "project", edit)


def test_explain_before_the_audit_says_which_command_is_missing(project: Path, monkeypatch, capsys,
                                                                tmp_path: Path) -> None:
    monkeypatch.chdir(project)
    references = Path("audits/synthetic/small_cnn/references.json")
    if references.exists():  # the stage test below may have run first
        references.rename(tmp_path / "references.json")
    try:
        assert main(["explain", "small_cnn"]) == 1
        assert "references.json: not found; run `fairvision audit small_cnn` first" in capsys.readouterr().err
    finally:
        if (tmp_path / "references.json").exists():
            (tmp_path / "references.json").rename(references)


def test_an_unknown_backbone_is_refused_naming_the_known_ones(project: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(project)
    assert main(["explain", "resnet"]) == 1
    assert "backbone 'resnet' is not in params.yaml `backbones` (small_cnn)" in capsys.readouterr().err


def test_the_stage_writes_maps_disparities_and_faithfulness_per_group(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert main(["audit", "small_cnn"]) == 0 and main(["explain", "small_cnn"]) == 0
    report = json.loads((OUT / "explanations.json").read_text(encoding="utf-8"))
    fairness = json.loads(Path("audits/synthetic/small_cnn/fairness.json").read_text(encoding="utf-8"))
    assert report["model"] == {"image_size": 16, "labels": ["Female", "Male"]}
    assert set(report["methods"]) == {"gradcam", "integrated_gradients", "lime"}
    for name, method in report["methods"].items():
        for attribute in ("race", "age"):
            part = method["attributes"][attribute]
            assert part["reference"] == fairness["partitions"][attribute]["reference"]
            for group, record in part["groups"].items():
                assert record["n"] == record["n_correct"] + record["n_incorrect"] <= 2
                assert all((OUT / path).is_file() for path in record["pictures"].values())
                if group == part["reference"]:
                    assert record["disparity"] is None
                elif record["disparity"]["value"] is not None:
                    assert 0 <= record["disparity"]["value"] <= 2 and 0 < record["disparity"]["p_value"] <= 1
        faithfulness = method["faithfulness"]
        assert 1 <= faithfulness["images"] <= method["images"]
        for curve in ("deletion", "insertion"):
            gain = faithfulness[curve]["gain"]
            assert gain["ci"][0] <= gain["ci"][1]
            assert faithfulness[curve]["beats_random"] == (gain["ci"][0] > 0)
    assert report["summary"]["level"] == 0.9

    before = files(OUT)
    assert main(["explain", "small_cnn"]) == 0
    assert files(OUT) == before  # seeded: a rerun writes the same bytes


def test_the_report_inlines_what_the_stage_wrote(project: Path, monkeypatch) -> None:
    """The report's own tests read a hand-made explanations.json; this guards against drift from the stage's."""
    monkeypatch.chdir(project)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    if not (OUT / "explanations.json").exists():  # when run alone
        assert main(["audit", "small_cnn"]) == 0 and main(["explain", "small_cnn"]) == 0
    assert main(["report"]) == 0
    section = json.loads(Path("reports/synthetic/small_cnn.card.json").read_text(encoding="utf-8"))["explanations"]
    assert section["explained"] and section["methods"] == EXPLAIN["methods"]
    cells = [cell for part in section["attributes"].values() for row in part["groups"].values()
             for cell in row.values() if cell is not None]
    page = Path("reports/synthetic/small_cnn.html").read_text(encoding="utf-8")
    assert cells and page.count('<img class="map" src="data:image/') == len(cells)  # a JPEG where lighter
    assert section["trust"] in page
