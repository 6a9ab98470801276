"""A user's own images through every stage, as a new user would point params.yaml at them.

A Cloud Annotations export in an S3 bucket (a real moto server) with no protected attributes:
the audit reports per-label performance only and says why. An image folder with a side CSV of
protected attributes that FairFace does not have: the audit measures those groups. Label names
with markup reach the report as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import encode_image
from fairvision.cli import main

ROOT = Path(__file__).resolve().parents[1]
STAGES = (["prepare"], ["train", "small_cnn"], ["evaluate", "small_cnn"], ["audit", "small_cnn"], ["report"])
MARKUP = "<script>alert(1)</script>"


def run_stages(project: Path, name: str, dataset: dict[str, Any]) -> dict[str, Any]:
    """params.yaml with tiny sizes and only dataset ``name``; run every stage after synth; return fairness.json."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"] = {name: dataset}
    params["train"].update(image_size=16, batch_size=16, epochs=1)
    params["backbones"] = {"small_cnn": {"width": 4}}
    params["audit"].update(min_group_size=5)
    params["audit"]["bootstrap"]["resamples"] = 50
    project.mkdir(exist_ok=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        for command in STAGES:
            assert main(command) == 0, command
    return json.loads((project / f"audits/{name}/small_cnn/fairness.json").read_text(encoding="utf-8"))


def test_cloud_annotations_bucket_without_attributes(tmp_path: Path, s3_server) -> None:
    labels = ("cat", MARKUP)
    files = {f"{n:03d}.jpg": encode_image((200 if n % 2 else 30, n * 2, 90), size=20) for n in range(120)}
    annotations = {key: [{"label": labels[n % 2]}] for n, key in enumerate(files)}
    files["_annotations.json"] = json.dumps({"version": "1.0", "type": "classification", "labels": list(labels),
                                             "annotations": annotations}).encode()
    bucket = s3_server.bucket(files, prefix="export")
    dataset = {"source": {"format": "cloud_annotations", "path": f"s3://{bucket}/export"}, "target": "label",
               "protected": [], "reference": {}, "intersections": []}
    result = run_stages(tmp_path / "project", "pets", dataset)

    assert result["partitions"] == {} and result["group_fairness"]["measured"] is False
    assert "`protected` list in params.yaml is empty" in result["group_fairness"]["reason"]
    assert set(result["per_label"]) == set(labels)
    page = (tmp_path / "project/reports/pets/small_cnn.html").read_text(encoding="utf-8")
    assert MARKUP not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "no group fairness" in page.lower() or "not measured" in page.lower()
    datasheet = json.loads((tmp_path / "project/data/prepared/pets/datasheet.json").read_text(encoding="utf-8"))
    assert datasheet["source"] == f"s3://{bucket}/export" and "testing" not in json.dumps(datasheet)


def test_image_folder_with_a_side_csv_of_custom_attributes(tmp_path: Path) -> None:
    data = tmp_path / "images"
    rows = ["image,skin_tone,region"]
    for n in range(160):
        label = ("bird", "fish")[n % 2]
        key = f"{label}/{n:03d}.png"
        (data / label).mkdir(parents=True, exist_ok=True)
        (data / key).write_bytes(encode_image((220 if n % 2 else 20, n, 128), "PNG", size=20))
        rows.append(f"{key},{('type I', 'type VI')[n // 2 % 2]},{('north', 'south')[n % 3 % 2]}")
    (data / "attributes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    dataset = {"source": {"format": "image_folder", "path": str(data), "attributes": "attributes.csv"},
               "target": "label", "protected": ["skin_tone", "region"], "reference": {"skin_tone": "type I"},
               "intersections": [["skin_tone", "region"]]}
    result = run_stages(tmp_path / "project", "animals", dataset)

    assert set(result["partitions"]) == {"skin_tone", "region", "skin_tone × region"}
    assert result["partitions"]["skin_tone"]["reference"] == "type I"
    assert result["group_fairness"]["measured"] is True
    page = (tmp_path / "project/reports/animals/index.html").read_text(encoding="utf-8")
    assert "skin_tone" in page and "type VI" in page
