"""Every source through `prepare`: Cloud Annotations (classification, localization), image folders,
side CSVs of protected attributes, and the same datasets read from a real S3 server (moto)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from conftest import encode_image, valid_rows, write_fairface
from fairvision.data import formats
from fairvision.data.prepare import prepare
from fairvision.data.shards import read_records, shard_paths
from fairvision.errors import FairvisionError
from fairvision import params
from fairvision.params import Dataset, Prepare

MARKUP = "<b>chat</b> & “cat”"
FOLDER_MARKUP = "<script>chat & “cat”"  # a folder name cannot hold "/"
OPTIONS = Prepare(val_fraction=0.2, shard_size=8, max_reject_fraction=1.0, test_fraction=0.25)


def colour(n: int) -> tuple[int, int, int]:
    return (n * 37 % 256, n * 11 % 256, 255 - n * 5 % 256)


def cloud_annotations_files(n: int = 24, kind: str = "classification") -> dict[str, bytes]:
    """``n`` distinct images, each labelled cat, dog or MARKUP, plus the oddities every export can hold."""
    labels = ("cat", "dog", MARKUP)
    files = {f"img{i:03d}.jpg": encode_image(colour(i), size=40) for i in range(n)}
    if kind == "classification":
        entries = {key: [{"label": labels[i % 3]}] for i, key in enumerate(files)}
    else:  # two boxes per image, with extra keys the tool writes
        entries = {key: [{"label": labels[i % 3], "x": 0.0, "y": 0.0, "x2": 0.5, "y2": 0.25, "id": f"u{i}"},
                         {"label": labels[(i + 1) % 3], "x": 0.5, "y": 0.5, "x2": 1.0, "y2": 1.0}]
                   for i, key in enumerate(files)}
        entries["img001.jpg"].append({"label": "cat", "x": 0.6, "y": 0.1, "x2": 0.6, "y2": 0.3})  # degenerate
    files["unlabelled.jpg"] = encode_image((1, 2, 3))
    files["multi.jpg"] = encode_image((4, 5, 6))
    if kind == "classification":
        entries["multi.jpg"] = [{"label": "cat"}, {"label": "dog"}]
    files["notes.txt"] = b"not an image"
    files["_annotations.json"] = json.dumps({"version": "1.0", "type": kind, "labels": list(labels),
                                             "annotations": entries}).encode()
    return files


def attribute_csv(keys, *, skip: str | None = None) -> bytes:
    lines = ["image,skin_tone,region"] + [f"{key},{('light', 'dark')[i % 2]},{('north', 'south')[i % 3 % 2]}"
                                          for i, key in enumerate(sorted(keys)) if key != skip]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()  # a BOM and CRLF, as spreadsheets write


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


def dataset(path: str, data_format: str, *, protected=(), attributes=None, **more) -> Dataset:
    fairface = data_format == "fairface"
    return Dataset(name="t", format=data_format, path=path, padding=0.25, target="gender" if fairface else "label",
                   protected=tuple(protected), attributes=attributes, **more)


def outputs(out: Path) -> tuple[pd.DataFrame, dict, dict[str, str], dict[str, tuple[bytes, int]]]:
    manifest = pd.read_parquet(out / "manifest.parquet")
    datasheet = json.loads((out / "datasheet.json").read_text(encoding="utf-8"))
    with (out / "rejected.csv").open(newline="", encoding="utf-8") as handle:
        rejected = {row["image"]: row["reason"] for row in csv.DictReader(handle)}
    shards = {}
    for split in ("train", "val", "test"):
        for record in read_records(shard_paths(out / "shards", split)).as_numpy_iterator():
            shards[record["id"].decode()] = (record["image"], int(record["label"]))
    return manifest, datasheet, rejected, shards


def test_cloud_annotations_classification_with_a_side_csv(tmp_path: Path) -> None:
    files = cloud_annotations_files()
    images = [key for key in files if key.endswith(".jpg")]
    files["attributes.csv"] = attribute_csv(images, skip="img005.jpg")
    root = write_files(tmp_path / "export", files)
    out = tmp_path / "prepared"
    prepare(dataset(str(root), "cloud_annotations", protected=("skin_tone",), attributes="attributes.csv"),
            OPTIONS, out)
    manifest, datasheet, rejected, shards = outputs(out)

    assert list(manifest.columns) == ["id", "image", "split", "label", "skin_tone", "region", "sha256"]
    assert rejected == {
        "multi.jpg": "2 different labels (cat, dog); multi_label policy is reject",
        "notes.txt": "not an image file (suffixes: .jpg, .jpeg, .png, .bmp, .gif, .webp, .tif, .tiff)",
        "img005.jpg": "no row for this image in attributes.csv",
    }
    assert datasheet["unlabelled"] == 1 and datasheet["rejected"] == 3
    assert datasheet["attributes"] == ["skin_tone", "region"] and datasheet["protected"] == ["skin_tone"]
    assert datasheet["labels"] == sorted(["cat", "dog", MARKUP])
    assert set(manifest["split"]) == {"train", "val", "test"}  # carved: the export has no splits
    assert len(manifest) == 23 and set(manifest["label"]) == {"cat", "dog", MARKUP}  # the label text, exactly
    row = manifest.set_index("id").loc["img007.jpg"]
    assert (row["label"], row["skin_tone"]) == ("dog", "dark")
    assert shards["img007.jpg"][0] == files["img007.jpg"]  # a JPEG is stored byte for byte
    assert shards["img007.jpg"][1] == datasheet["labels"].index("dog")
    assert "warnings" not in datasheet  # small test groups are the audit's call (audit.min_group_size)


def test_cloud_annotations_localization_crops_each_box(tmp_path: Path) -> None:
    files = cloud_annotations_files(12, kind="localization")
    root = write_files(tmp_path / "export", files)
    out = tmp_path / "prepared"
    prepare(dataset(str(root), "cloud_annotations"), OPTIONS, out)
    manifest, datasheet, rejected, shards = outputs(out)

    assert rejected["img001.jpg"].startswith("box 2: degenerate box")  # the whole image's boxes, with the reason
    assert "multi.jpg" not in rejected and datasheet["unlabelled"] == 2  # no entry: unlabelled, counted
    assert len(manifest) == 22 and manifest["box"].notna().all()
    first = manifest.set_index("id").loc["img000.jpg#0"]
    assert list(first["box"]) == [0.0, 0.0, 0.5, 0.25]
    with Image.open(io.BytesIO(shards["img000.jpg#0"][0])) as crop:
        assert crop.format == "PNG" and crop.size == (20, 10)
    with Image.open(io.BytesIO(shards["img000.jpg#1"][0])) as crop:
        assert crop.size == (20, 20)
    # both boxes of an image share its split, so no image leaks between train and test
    assert manifest.groupby("image")["split"].nunique().max() == 1


def test_image_folder_with_split_folders_and_without(tmp_path: Path) -> None:
    flat = {f"{label}/{i}.png": encode_image(colour(i + 50 * n), "PNG")
            for n, label in enumerate(["cat", FOLDER_MARKUP]) for i in range(10)}
    root = write_files(tmp_path / "flat", flat | {"README.md": b"# my images"})
    out = tmp_path / "prepared-flat"
    prepare(dataset(str(root), "image_folder"), OPTIONS, out)
    manifest, datasheet, rejected, _ = outputs(out)
    assert rejected == {"README.md": "not an image file (suffixes: .jpg, .jpeg, .png, .bmp, .gif, .webp, .tif, .tiff)"}
    assert set(manifest["label"]) == {"cat", FOLDER_MARKUP} and len(manifest) == 20
    assert datasheet["protected"] == [] and datasheet["attributes"] == []

    split = {f"{split}/{label}/{i}.png": encode_image(colour(i + 10 * n + 100 * s), "PNG")
             for s, split in enumerate(["train", "test"]) for n, label in enumerate(["a", "b"]) for i in range(6)}
    root = write_files(tmp_path / "split", split)
    out = tmp_path / "prepared-split"
    prepare(dataset(str(root), "image_folder"), OPTIONS, out)
    manifest, _, _, _ = outputs(out)
    by_folder = manifest.assign(folder=manifest["image"].str.split("/").str[0])
    assert set(by_folder.loc[by_folder["folder"] == "test", "split"]) == {"test"}  # the folder's split is kept
    assert set(by_folder.loc[by_folder["folder"] == "train", "split"]) == {"train", "val"}  # val carved from train


def test_side_csv_bad_rows_are_rejections_and_unknown_protected_is_fatal(tmp_path: Path) -> None:
    files = {f"{label}/{i}.jpg": encode_image(colour(i + 40 * n)) for n, label in enumerate("ab") for i in range(8)}
    table = "image,skin_tone\na/0.jpg,light\na/1.jpg,\nghost.jpg,dark\na/0.jpg,dark\n" + "".join(
        f"{key},dark\n" for key in sorted(files) if key not in ("a/0.jpg", "a/1.jpg", "a/2.jpg"))
    root = write_files(tmp_path / "folder", files | {"attributes.csv": table.encode()})
    out = tmp_path / "prepared"
    prepare(dataset(str(root), "image_folder", protected=("skin_tone",), attributes="attributes.csv"), OPTIONS, out)
    _, _, rejected, _ = outputs(out)
    assert rejected["a/1.jpg"] == "attributes.csv line 3: empty value in field 2"
    assert rejected["ghost.jpg"] == "no image 'ghost.jpg' in the dataset"
    assert rejected["a/2.jpg"] == "no row for this image in attributes.csv"
    with (out / "rejected.csv").open(newline="", encoding="utf-8") as handle:
        second = [row for row in csv.DictReader(handle) if row["reason"].startswith("a second row")]
    assert [(row["listed_in"], row["line"], row["image"]) for row in second] == [("attributes.csv", "5", "a/0.jpg")]

    with pytest.raises(FairvisionError, match=r"`datasets.t.protected` lists race, .*its attributes: skin_tone"):
        prepare(dataset(str(root), "image_folder", protected=("race",), attributes="attributes.csv"), OPTIONS, out)
    with pytest.raises(FairvisionError, match=r"attributes.csv: attribute table not found"):
        prepare(dataset(str(tmp_path / "folder" / "a"), "image_folder", attributes="attributes.csv"), OPTIONS, out)


def test_no_cloud_annotations_file_is_a_clear_error(tmp_path: Path) -> None:
    root = write_files(tmp_path / "plain", {"a.jpg": encode_image((1, 1, 1))})
    with pytest.raises(FairvisionError, match=r"plain: no _annotations.json \(is this a Cloud Annotations export\?\)"):
        prepare(dataset(str(root), "cloud_annotations"), OPTIONS, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- The same sources in a real S3 bucket (moto server on 127.0.0.1) ---------------------------


def test_cloud_annotations_bucket_equals_the_local_export(tmp_path: Path, s3_server) -> None:
    files = cloud_annotations_files()
    files["attributes.csv"] = attribute_csv([key for key in files if key.endswith(".jpg")])
    bucket = s3_server.bucket(files, prefix="exports/pets")
    local = write_files(tmp_path / "export", files)
    for location, out in ((f"s3://{bucket}/exports/pets", tmp_path / "s3"), (str(local), tmp_path / "local")):
        prepare(dataset(location, "cloud_annotations", protected=("skin_tone", "region"),
                        attributes="attributes.csv"), OPTIONS, out)
    s3, local_out = outputs(tmp_path / "s3"), outputs(tmp_path / "local")
    pd.testing.assert_frame_equal(s3[0], local_out[0])
    assert s3[2] == local_out[2] and s3[3] == local_out[3]
    assert s3[1]["source"] == f"s3://{bucket}/exports/pets"
    assert s3[1]["source_sha256"] == local_out[1]["source_sha256"]  # content, not location
    secret = "testing"  # the credentials never reach an output
    for path in (tmp_path / "s3").rglob("*.json"):
        assert secret not in path.read_text(encoding="utf-8")


def test_fairface_bucket_read_from_the_zip(tmp_path: Path, s3_server) -> None:
    train_rows, train_images = valid_rows("train", 30)
    val_rows, val_images = valid_rows("val", 10)
    train_rows.append(["train/99.jpg", "20-29", "Male", "White", "True"])  # not in the zip
    local = write_fairface(tmp_path / "ff", {"train": train_rows, "val": val_rows}, train_images | val_images)
    bucket = s3_server.bucket({path.name: path.read_bytes() for path in local.iterdir()}, prefix="fairface")
    prepare(dataset(f"s3://{bucket}/fairface", "fairface", protected=("race",)), OPTIONS, tmp_path / "s3")
    prepare(dataset(str(local), "fairface", protected=("race",)), OPTIONS, tmp_path / "local")
    s3, local_out = outputs(tmp_path / "s3"), outputs(tmp_path / "local")
    pd.testing.assert_frame_equal(s3[0], local_out[0])
    assert s3[3] == local_out[3] and len(s3[3]) == 40
    assert s3[2] == {"train/99.jpg": "does not exist"}


def test_missing_bucket_is_a_clear_error_naming_the_param(tmp_path: Path, s3_server) -> None:
    with pytest.raises(FairvisionError, match=r"s3://no-such-bucket/x: bucket 'no-such-bucket' does not exist.*"
                                              r"\(params.yaml `datasets.t.source.path`\)"):
        prepare(dataset("s3://no-such-bucket/x", "cloud_annotations"), OPTIONS, tmp_path / "out")


def test_every_format_the_schema_accepts_has_one_registered_opener() -> None:
    assert sorted(formats.FORMATS) == sorted(params.FORMATS)


def test_an_unregistered_format_is_named_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(FairvisionError, match=r"`datasets.t.source.format`: unknown format 'parquet'; known: "):
        prepare(dataset(str(tmp_path), "parquet"), OPTIONS, tmp_path / "out")
