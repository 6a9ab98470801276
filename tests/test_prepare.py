"""Stage `prepare`: manifest, shards, datasheet, and every kind of rejection."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from conftest import encode_image, valid_rows, write_fairface
from fairvision.data.prepare import MANIFEST_COLUMNS, prepare
from fairvision.data.shards import read_records, shard_paths
from fairvision.errors import FairvisionError
from fairvision.params import Dataset, Prepare

DATASET = Dataset(name="t", format="fairface", path="", padding=0.25, target="gender", protected=("race", "age"))


def run_prepare(root: Path, out: Path, val_fraction: float = 0.25, shard_size: int = 16) -> None:
    dataset = Dataset(**{**DATASET.__dict__, "path": str(root)})
    prepare(dataset, Prepare(val_fraction=val_fraction, shard_size=shard_size), out)


def read_rejected(out: Path) -> list[dict[str, str]]:
    with (out / "rejected.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_manifest_shards_and_datasheet(small_fairface: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    run_prepare(small_fairface, out)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert (manifest["label"] == manifest["gender"]).all()
    assert set(manifest.loc[manifest["image"].str.startswith("val/"), "split"]) == {"test"}
    assert set(manifest.loc[manifest["image"].str.startswith("train/"), "split"]) == {"train", "val"}
    assert manifest["id"].is_unique and manifest["sha256"].str.len().eq(64).all()

    sheet = pd.read_json(out / "datasheet.json", typ="series")
    assert sheet["labels"] == ["Female", "Male"]
    assert sheet["rejected"] == 0
    assert sum(sheet["n_images"].values()) == 52
    test_race = sheet["counts"]["test"]["race"]
    assert sum(sum(by_label.values()) for by_label in test_race.values()) == 12
    assert sum(sheet["intersections"]["train"]["race × age"].values()) == sheet["n_images"]["train"]

    for split in ("train", "val", "test"):
        ids = [r["id"].numpy().decode() for r in read_records(shard_paths(out / "shards", split))]
        assert ids == manifest.loc[manifest["split"] == split, "id"].tolist()
    assert len(shard_paths(out / "shards", "train")) == -(-sheet["n_images"]["train"] // 16)
    assert read_rejected(out) == []


def test_validation_split_is_stable_and_hash_based(small_fairface: Path, tmp_path: Path) -> None:
    run_prepare(small_fairface, tmp_path / "a")
    run_prepare(small_fairface, tmp_path / "b")
    first = pd.read_parquet(tmp_path / "a" / "manifest.parquet")
    second = pd.read_parquet(tmp_path / "b" / "manifest.parquet")
    assert first.equals(second)
    assert 0 < (first["split"] == "val").sum() < (first["split"] == "train").sum()


def test_bad_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 10)
    rows += [
        ["train/90.jpg", "20-29", "Male", "Martian", "True"],  # bad value
        ["train/91.jpg", "20-29", "Male", "White", "True"],  # missing file
        ["train/92.jpg", "20-29", "Male", "White", "True"],  # empty file
        ["train/93.jpg", "20-29", "Male", "White", "True"],  # corrupt JPEG
        ["train/1.jpg", "20-29", "Male", "White", "True"],  # duplicate
        ["train/94.jpg", "twenty", "Male", "White", "Yes"],  # bad age
    ]
    images |= {"train/90.jpg": encode_image((1, 2, 3)), "train/92.jpg": b"", "train/93.jpg": b"\xff\xd8\xff\xe0garbage"}
    val_rows, val_images = valid_rows("val", 6)
    root = write_fairface(tmp_path / "ff", {"train": rows, "val": val_rows}, images | val_images)
    out = tmp_path / "prepared"
    run_prepare(root, out)

    rejected = {r["file"] + "@" + r["line"]: r["reason"] for r in read_rejected(out)}
    assert "is not one of" in rejected["train/90.jpg@12"] and "race: 'Martian'" in rejected["train/90.jpg@12"]
    assert rejected["train/91.jpg@13"] == "image not found in the dataset"
    assert rejected["train/92.jpg@14"] == "image file is empty"
    assert rejected["train/93.jpg@15"].startswith("cannot decode image")
    assert "duplicate" in rejected["train/1.jpg@16"]
    assert rejected["train/94.jpg@17"].startswith("age: 'twenty'")
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) == 16
    assert pd.read_json(out / "datasheet.json", typ="series")["rejected"] == 6


def test_wrong_header_fails_naming_the_file_and_writes_nothing(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 4)
    root = write_fairface(tmp_path / "ff", {"train": rows}, images, header=("file", "age", "sex", "race", "x"))
    out = tmp_path / "prepared"
    with pytest.raises(FairvisionError, match=r"fairface_label_train\.csv: header is"):
        run_prepare(root, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "ff"]


def test_extracted_folder_and_non_jpeg_images(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 8)
    rows.append(["train/50.bmp", "more than 70", "Female", "Indian", "False"])
    images["train/50.bmp"] = encode_image((10, 20, 30), image_format="BMP")
    val_rows, val_images = valid_rows("val", 4)
    root = write_fairface(tmp_path / "ff", {"train": rows, "val": val_rows}, images | val_images, as_zip=False)
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)
    records = {r["id"].numpy().decode(): r["image"].numpy() for r in read_records(shard_paths(out / "shards", "train"))}
    assert records["train/50"].startswith(b"\x89PNG")  # re-encoded once, as TensorFlow cannot decode BMP
    assert records["train/1"] == images["train/1.jpg"]  # JPEG kept byte for byte


def test_missing_dataset_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FairvisionError, match="dataset folder not found"):
        run_prepare(tmp_path / "nowhere", tmp_path / "out")
