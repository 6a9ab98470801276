"""Stage `prepare`: manifest, shards, datasheet, and every kind of rejection."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import encode_array, encode_image, png_header_only, valid_rows, write_fairface
from fairvision.data.fairface import zip_name
from fairvision.data.manifest import manifest_columns
from fairvision.data.prepare import prepare
from fairvision.data.shards import read_records, shard_paths, write_shards
from fairvision.errors import FairvisionError
from fairvision.params import Dataset, Prepare, load_params

ROOT = Path(__file__).resolve().parents[1]

DATASET = Dataset(name="t", format="fairface", path="", padding=0.25, target="gender", protected=("race", "age"))


def run_prepare(
    root: Path, out: Path, val_fraction: float = 0.25, shard_size: int = 16,
    max_reject_fraction: float = 1.0,  # these tests plant many bad rows on purpose
    **limits: int,  # max_image_pixels, max_image_bytes: Prepare's defaults unless given
) -> None:
    dataset = Dataset(**{**DATASET.__dict__, "path": str(root)})
    prepare(dataset, Prepare(val_fraction=val_fraction, shard_size=shard_size,
                             max_reject_fraction=max_reject_fraction, **limits), out)


def read_rejected(out: Path) -> list[dict[str, str]]:
    with (out / "rejected.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_manifest_shards_and_datasheet(small_fairface: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    run_prepare(small_fairface, out)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest.columns) == manifest_columns(("race", "gender", "age"), boxes=False)
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

    rejected = {r["image"] + "@" + r["line"]: r["reason"] for r in read_rejected(out)}
    assert "is not one of" in rejected["train/90.jpg@12"] and "race: 'Martian'" in rejected["train/90.jpg@12"]
    assert rejected["train/91.jpg@13"] == "does not exist"
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
    with pytest.raises(FairvisionError, match=r"nowhere does not exist \(params.yaml `datasets.t.source.path`\)"):
        run_prepare(tmp_path / "nowhere", tmp_path / "out")


def shard_images(out: Path, split: str = "train") -> dict[str, bytes]:
    return {r["id"].numpy().decode(): r["image"].numpy() for r in read_records(shard_paths(out / "shards", split))}


def test_keys_outside_the_dataset_folder_are_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(encode_image((9, 9, 9)))
    rows, images = valid_rows("train", 6)
    images["extra/inside.jpg"] = encode_image((250, 1, 1))
    bad = {
        "train/70.jpg": str(outside),  # absolute path
        "train/71.jpg": "train/../../secret.jpg",
        "train/72.jpg": "train\\..\\..\\secret.jpg",
        "train/73.jpg": "C:/secret.jpg",
        "train/74.jpg": "train/./1.jpg",
        "train/75.jpg": "train//1.jpg",
    }
    rows += [[key, "20-29", "Male", "White", "True"] for key in bad.values()]
    rows += [["train/80.jpg", "20-29", "Male", "White", "True"], ["train/81.jpg", "20-29", "Male", "White", "True"]]
    root = write_fairface(tmp_path / "ff", {"train": rows, "val": valid_rows("val", 2)[0]},
                          images | valid_rows("val", 2)[1], as_zip=False)
    (root / "train/80.jpg").symlink_to(outside)  # leaves the root
    (root / "train/81.jpg").symlink_to(root / "extra/inside.jpg")  # stays inside: fine
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)

    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert "is an absolute path" in rejected[str(outside)]
    assert "'..' part" in rejected["train/../../secret.jpg"]
    assert "backslash" in rejected["train\\..\\..\\secret.jpg"]
    assert "is an absolute path" in rejected["C:/secret.jpg"]
    assert "'.' part" in rejected["train/./1.jpg"] and "empty" in rejected["train//1.jpg"]
    assert "resolves (through a symlink) outside the dataset root" in rejected["train/80.jpg"]
    assert set(rejected) == set(bad.values()) | {"train/80.jpg"}
    assert shard_images(out)["train/81"] == images["extra/inside.jpg"]
    assert outside.read_bytes() not in shard_images(out).values()


def test_zip_keys_follow_the_same_rule(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 4)
    rows += [["../evil.jpg", "20-29", "Male", "White", "True"], ["/train/9.jpg", "20-29", "Male", "White", "True"]]
    images |= {"../evil.jpg": encode_image((7, 7, 7)), "/train/9.jpg": encode_image((8, 8, 8))}
    root = write_fairface(tmp_path / "ff", {"train": rows}, images)
    with zipfile.ZipFile(root / "fairface-img-margin025-trainval.zip") as archive:
        assert "../evil.jpg" in archive.namelist()  # the crafted entry really is there
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)
    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert "'..' part" in rejected["../evil.jpg"] and "absolute path" in rejected["/train/9.jpg"]


def test_bom_crlf_and_wrong_field_counts(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 6)
    root = write_fairface(tmp_path / "ff", {}, images)
    lines = [",".join(("file", "age", "gender", "race", "service_test"))] + [",".join(row) for row in rows]
    lines += ["train/1.jpg,20-29,Male,White,True,extra", "train/2.jpg,20-29,Male"]
    (root / "fairface_label_train.csv").write_bytes("\ufeff".encode() + "\r\n".join(lines).encode() + b"\r\n")
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)
    rejected = {r["line"]: r["reason"] for r in read_rejected(out)}
    assert rejected == {"8": "expected 5 fields (file,age,gender,race,service_test), found 6",
                        "9": "expected 5 fields (file,age,gender,race,service_test), found 3"}
    assert len(pd.read_parquet(out / "manifest.parquet")) == 6


def test_missing_label_csv_is_a_clear_error(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 4)
    root = write_fairface(tmp_path / "ff", {"train": rows}, images)
    (root / "fairface_label_val.csv").unlink()
    with pytest.raises(FairvisionError, match=r"fairface_label_val\.csv: FairFace label file not found"):
        run_prepare(root, tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_pixel_limit_and_decompression_bombs_are_rejected(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 6)
    extra = {
        "train/60.png": encode_image((1, 2, 3), image_format="PNG", size=80),  # 6,400 pixels > the limit
        "train/61.png": png_header_only(30_000, 30_000),  # 900 M pixels: Pillow's DecompressionBombError
        "train/62.png": png_header_only(10_000, 10_000),  # 100 M pixels: Pillow's DecompressionBombWarning
    }
    rows += [[key, "20-29", "Male", "White", "True"] for key in extra]
    root = write_fairface(tmp_path / "ff", {"train": rows}, images | extra)
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0, max_image_pixels=5_000)
    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert rejected["train/60.png"] == "image is 80x80 = 6,400 pixels, above prepare.max_image_pixels (5,000)"
    assert rejected["train/61.png"].startswith("image too large to decode safely")
    assert rejected["train/62.png"].startswith("image is 10000x10000 = 100,000,000 pixels, above")


@pytest.mark.parametrize("value", [0, 10**9, "big"])
def test_max_image_pixels_is_validated(tmp_path: Path, value: object) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["prepare"]["max_image_pixels"] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(FairvisionError, match=r"`params\.prepare\.max_image_pixels` must be an integer"):
        load_params(tmp_path / "params.yaml")


def test_colour_modes_and_formats_are_converted_not_rejected(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    extra = {
        "train/60.jpg": encode_array(rgb[..., 0], "JPEG"),  # greyscale JPEG: kept
        "train/61.png": encode_array(np.dstack([rgb, np.full((16, 16), 128, np.uint8)])),  # RGBA
        "train/62.png": encode_array(Image.fromarray(rgb).convert("P")),  # palette
        "train/63.jpg": encode_array(Image.fromarray(rgb).convert("CMYK"), "JPEG"),  # CMYK
        "train/64.png": encode_array(np.full((16, 16), 60_000, np.uint16)),  # 16-bit grey
        "train/65.tif": encode_array(rgb, "TIFF"),
        "train/66.webp": encode_array(rgb, "WEBP", lossless=True),
        "train/67.gif": encode_array(rgb, "GIF"),
        "train/68.ppm": encode_array(rgb, "PPM"),  # not an accepted format
    }
    rows, images = valid_rows("train", 4)
    rows += [[key, "20-29", "Male", "White", "True"] for key in extra]
    root = write_fairface(tmp_path / "ff", {"train": rows}, images | extra)
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)
    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert rejected == {"train/68.ppm": "cannot decode image: not a JPEG, PNG, BMP, GIF, TIFF, WEBP file"}
    stored = shard_images(out)
    assert stored["train/60"] == extra["train/60.jpg"]
    for record_id in ("train/61", "train/62", "train/63", "train/64", "train/65", "train/66", "train/67"):
        assert stored[record_id].startswith(b"\x89PNG") and stored[record_id][24] == 8, record_id
        with Image.open(io.BytesIO(stored[record_id])) as image:
            assert image.mode == "RGB", record_id
    with Image.open(io.BytesIO(stored["train/64"])) as image:
        assert image.getpixel((0, 0)) == (234, 234, 234)  # 60000 >> 8, not clipped to white
    with Image.open(io.BytesIO(stored["train/66"])) as image:
        assert np.array_equal(np.asarray(image), rgb)  # lossless WEBP round-trips exactly


def test_ids_that_collide_and_byte_identical_images_are_rejected(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 6)
    extra = {"train/3.png": encode_image((3, 3, 3), image_format="PNG"), "train/20.jpg": images["train/2.jpg"]}
    rows += [[key, "20-29", "Male", "White", "True"] for key in extra]
    root = write_fairface(tmp_path / "ff", {"train": rows}, images | extra)
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)
    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert rejected == {
        "train/3.png": "duplicate of image id 'train/3' (already used by train/3.jpg)",
        "train/20.jpg": "duplicate image: same bytes as train/2.jpg",
    }


def test_shards_hold_the_same_records_in_manifest_order(tmp_path: Path) -> None:
    """Streaming writes exactly what writing from an in-memory list wrote, byte for byte."""
    rows, images = valid_rows("train", 30)
    rows.append(["train/50.bmp", "more than 70", "Female", "Indian", "False"])
    images["train/50.bmp"] = encode_image((10, 20, 30), image_format="BMP")
    val_rows, val_images = valid_rows("val", 7)
    root = write_fairface(tmp_path / "ff", {"train": rows, "val": val_rows}, images | val_images)
    out = tmp_path / "prepared"
    run_prepare(root, out, shard_size=8)
    manifest = pd.read_parquet(out / "manifest.parquet")
    labels = {"Female": 0, "Male": 1}
    as_rgb = encode_array(Image.open(io.BytesIO(images["train/50.bmp"])).convert("RGB"))
    sources = images | val_images | {"train/50.bmp": as_rgb}
    reference = tmp_path / "reference"
    reference.mkdir()
    for split in ("train", "val", "test"):
        part = manifest[manifest["split"] == split]
        assert len(part) > 0
        expected = [(i, sources[key], labels[label]) for i, key, label in zip(part["id"], part["image"], part["label"])]
        write_shards(reference, split, expected, 8)
    produced = sorted(p.name for p in (out / "shards").iterdir())
    assert produced == sorted(p.name for p in reference.iterdir())
    for name in produced:
        assert (out / "shards" / name).read_bytes() == (reference / name).read_bytes(), name


def test_examples_serialize_their_features_in_name_order() -> None:
    """Protobuf writes map entries in a per-process hash order unless asked to be deterministic,
    which made the same records give different shard bytes from one run to the next."""
    from fairvision.data.shards import _example

    serialized = _example("train/1", b"\xff\xd8 bytes", 1)
    positions = [serialized.index(b"\n" + bytes([len(name)]) + name) for name in (b"id", b"image", b"label")]
    assert positions == sorted(positions)


def test_image_bytes_are_not_all_held_in_memory(tmp_path: Path) -> None:
    """Two passes keep one image at a time: peak traced memory stays well below the data's size."""
    import tracemalloc

    rng = np.random.default_rng(0)
    rows, images = [], {}
    for n in range(1, 25):
        key = f"train/{n}.png"
        images[key] = encode_array(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))  # ~200 kB, incompressible
        rows.append([key, "20-29", ("Male", "Female")[n % 2], "White", "True"])
    root = write_fairface(tmp_path / "ff", {"train": rows}, images)
    total = sum(len(data) for data in images.values())
    del images
    run_prepare(root, tmp_path / "warm-up", val_fraction=0.0)  # imports and first-call caches
    tracemalloc.start()
    try:
        run_prepare(root, tmp_path / "prepared", val_fraction=0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total > 4_000_000
    assert peak < total / 3, (peak, total)


def test_too_many_rejections_stop_prepare_naming_the_commonest_reasons(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 40)
    val_rows, val_images = valid_rows("val", 12)
    rows[0][2] = rows[1][2] = "Robot"  # 2 bad genders
    rows[2][0] = "train/missing.jpg"  # 1 missing image
    root = write_fairface(tmp_path / "ff", {"train": rows, "val": val_rows}, images | val_images)
    with pytest.raises(FairvisionError) as error:
        run_prepare(root, tmp_path / "out", max_reject_fraction=0.05)  # 3 of 52 rows is 5.8 %
    message = str(error.value)
    assert "3 of 52 rows rejected (5.8%), more than params.yaml `prepare.max_reject_fraction` (0.05)" in message
    assert "gender (2); does not exist (1)" in message
    assert not (tmp_path / "out").exists()
    run_prepare(root, tmp_path / "out", max_reject_fraction=0.06)  # at or under the limit: listed and skipped
    assert len(read_rejected(tmp_path / "out")) == 3


def test_truncated_images_are_rejected_and_padding_picks_its_zip(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 6)
    whole = encode_image((9, 99, 199), size=64)
    rows.append(["train/50.jpg", "20-29", "Male", "White", "True"])
    images["train/50.jpg"] = whole[: len(whole) // 2]  # a download cut short
    root = write_fairface(tmp_path / "ff", {"train": rows}, images)
    (root / "fairface-img-margin025-trainval.zip").rename(root / "fairface-img-margin125-trainval.zip")
    out = tmp_path / "prepared"
    dataset = Dataset(**{**DATASET.__dict__, "path": str(root), "padding": 1.25})
    prepare(dataset, Prepare(val_fraction=0.0, shard_size=16, max_reject_fraction=1.0), out)
    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert list(rejected) == ["train/50.jpg"] and rejected["train/50.jpg"].startswith("cannot decode image")
    assert len(shard_images(out)) == 6
    with pytest.raises(FairvisionError, match="neither fairface-img-margin025-trainval.zip nor extracted"):
        run_prepare(root, tmp_path / "other")  # padding 0.25 wants the other zip


# --- Files too large to hold: refused by the size they declare, before their bytes are read -------------------

MiB = 2**20
PREPARE_ALONE = """
import json, logging, re, sys
from pathlib import Path
from fairvision.data.prepare import prepare
from fairvision.errors import FairvisionError
from fairvision.params import Dataset, Prepare
logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
fields = json.loads(sys.argv[1])
try:
    prepare(Dataset(**fields, padding=0.25, protected=()), Prepare(val_fraction=0.0, shard_size=16), Path(sys.argv[2]))
except FairvisionError as error:
    print(error)
with open("/proc/self/status") as status:
    print("peak", 1024 * int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read())[1]))
"""


def prepare_alone(folder: Path, **dataset: str) -> tuple[int, str]:
    """`prepare` with the default limits (20 MiB) in a process of its own: its peak RSS in bytes, and what it printed.

    The peak is the process's own high-water mark (VmHWM): its ru_maxrss would also count pytest's
    RSS at the fork. The datasets below hold only the huge file, so `prepare` stops at "no usable
    images" before it would import TensorFlow for the shards: the peak is that of reading.
    """
    result = subprocess.run([sys.executable, "-c", PREPARE_ALONE, json.dumps(dataset), str(folder / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    *log, last = result.stdout.splitlines()
    assert result.returncode == 0 and last.startswith("peak "), result.stdout[-2000:]
    return int(last.split()[1]), "\n".join(log)


def test_a_zip_member_that_inflates_to_a_gigabyte_is_refused_unread(tmp_path: Path) -> None:
    """FairFace's zip (4.7 MB) whose only member inflates to 1 GiB: its entry's declared size rejects it."""
    root = write_fairface(tmp_path / "ff", {"train": [["train/1.png", "20-29", "Male", "White", "True"]]}, {})
    with zipfile.ZipFile(root / zip_name(0.25), "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("train/1.png", "w") as member:
            for _ in range(1024):
                member.write(bytes(MiB))
    peak, log = prepare_alone(tmp_path, name="t", format="fairface", path=str(root), target="gender")
    assert ("(train/1.png): rejected: inflated zip member is 1,073,741,824 bytes, above prepare.max_image_bytes "
            "(20,971,520)") in log
    assert "no usable images (1 rejected" in log
    assert peak < 256 * MiB, peak  # a quarter of the payload: reading it would have taken all of it


def test_a_two_gigabyte_file_in_an_image_folder_is_refused_unread(tmp_path: Path) -> None:
    """A sparse 2 GiB file (no disk used) at <label>/<image>: its size from os.stat rejects it."""
    (tmp_path / "images/cat").mkdir(parents=True)
    with (tmp_path / "images/cat/huge.jpg").open("wb") as handle:
        handle.truncate(2 * 1024 * MiB)
    peak, log = prepare_alone(tmp_path, name="t", format="image_folder", path=str(tmp_path / "images"),
                              target="label")
    assert ("(cat/huge.jpg): rejected: image file is 2,147,483,648 bytes, above prepare.max_image_bytes "
            "(20,971,520)") in log
    assert peak < 256 * MiB, peak


def grow_object(bucket: str, key: str, size: int) -> None:
    """Make an object of the in-process moto server ``size`` bytes long without sending a byte of it.

    Moto keeps each object in a SpooledTemporaryFile and answers HEAD and listings with its
    ``contentsize``: rolled over to a real file and truncated up, the buffer becomes a sparse file
    that a GET would really read. The ETag is computed first, from the small content, so no
    request hashes the gigabyte, and the stored checksum is dropped, so a GET's is not checked
    against the small content's.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
    assert stored.etag
    stored._value_buffer.rollover()
    stored._value_buffer.truncate(size)
    stored.contentsize = size
    stored.checksum_algorithm = stored.checksum_value = None


def test_a_gigabyte_object_on_s3_is_refused_by_its_size(tmp_path: Path, s3_server) -> None:
    """Cloud Annotations in a bucket whose one image is a 1 GiB object: HEAD's size rejects it, no GET."""
    annotations = {"version": "1.0", "type": "classification", "labels": ["cat"],
                   "annotations": {"huge.jpg": [{"label": "cat"}]}}
    bucket = s3_server.bucket({"_annotations.json": json.dumps(annotations).encode(), "huge.jpg": b"\xff\xd8"})
    grow_object(bucket, "huge.jpg", 1024 * MiB)
    assert s3_server.client().head_object(Bucket=bucket, Key="huge.jpg")["ContentLength"] == 1024 * MiB
    peak, log = prepare_alone(tmp_path, name="t", format="cloud_annotations", path=f"s3://{bucket}", target="label")
    assert ("(huge.jpg): rejected: image file is 1,073,741,824 bytes, above prepare.max_image_bytes "
            "(20,971,520)") in log
    assert peak < 256 * MiB, peak


@pytest.mark.parametrize("as_zip", [True, False])
def test_images_above_max_image_bytes_are_rejected_by_their_size(tmp_path: Path, as_zip: bool) -> None:
    rows, images = valid_rows("train", 6)
    noise = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    images["train/60.png"] = big = encode_array(noise)  # incompressible: about 7 kB in the zip too
    rows.append(["train/60.png", "20-29", "Male", "White", "True"])
    root = write_fairface(tmp_path / "ff", {"train": rows}, images, as_zip=as_zip)
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0, max_image_bytes=len(big) - 1)
    what = "inflated zip member" if as_zip else "image file"
    assert read_rejected(out) == [{"listed_in": "fairface_label_train.csv", "line": "8", "image": "train/60.png",
                                   "reason": f"{what} is {len(big):,} bytes, above prepare.max_image_bytes "
                                             f"({len(big) - 1:,})"}]
    assert len(shard_images(out)) == 6
    run_prepare(root, tmp_path / "at-the-limit", val_fraction=0.0, max_image_bytes=len(big))
    assert shard_images(tmp_path / "at-the-limit")["train/60"] == big


def declare_size(path: Path, key: str, size: int) -> None:
    """Make the zip's central directory (where zipfile reads sizes) claim ``size`` bytes for ``key``."""
    data = bytearray(path.read_bytes())
    at = struct.unpack_from("<I", data, len(data) - 6)[0]  # the end record (no comment) says where the directory is
    while True:
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46:at + 46 + name_length] == key.encode():
            struct.pack_into("<I", data, at + 24, size)
            break
        at += 46 + name_length + extra_length + comment_length
    path.write_bytes(data)


def test_zip_bombs_and_members_that_lie_about_their_size_are_rejected(tmp_path: Path) -> None:
    rows, images = valid_rows("train", 6)
    noise = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    images["train/61.png"] = encode_array(noise)  # its entry will say 100 bytes
    rows += [[key, "20-29", "Male", "White", "True"] for key in ("train/60.bmp", "train/61.png")]
    root = write_fairface(tmp_path / "ff", {"train": rows}, images)
    with zipfile.ZipFile(root / zip_name(0.25), "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train/60.bmp", bytes(2 * MiB))  # within max_image_bytes, but from 2 kB: a bomb's ratio
    declare_size(root / zip_name(0.25), "train/61.png", 100)
    out = tmp_path / "prepared"
    run_prepare(root, out, val_fraction=0.0)
    rejected = {r["image"]: r["reason"] for r in read_rejected(out)}
    assert rejected["train/60.bmp"].startswith("zip member would inflate ")
    assert "to 2,097,152 bytes), more than an image compresses (100 times)" in rejected["train/60.bmp"]
    assert rejected["train/61.png"] == "corrupt zip member (Bad CRC-32 for file 'train/61.png')"
    assert len(shard_images(out)) == 6


LINE_BREAKING = {"a\u2028b": "U+2028", "c\x85d": "U+0085", "e\x1cf": "U+001C", "g\u2029h": "U+2029"}


@pytest.mark.parametrize("source_format", ["image_folder", "cloud_annotations"])
def test_labels_that_labels_txt_could_not_hold_are_rejected(tmp_path: Path, source_format: str) -> None:
    """A folder name or an `_annotations.json` label with a line break would come back as two labels after training."""
    root = tmp_path / "images"
    labels = ["cat", "dog", *LINE_BREAKING]
    keys = {f"{label}/{n}.jpg" if source_format == "image_folder" else f"{i}-{n}.jpg": label
            for i, label in enumerate(labels) for n in range(6)}
    for n, key in enumerate(keys):
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(encode_image((n * 7 % 256, n * 13 % 256, 90)))
    if source_format == "cloud_annotations":
        (root / "_annotations.json").write_text(json.dumps({
            "version": "1.0", "type": "classification", "labels": labels,
            "annotations": {key: [{"label": label}] for key, label in keys.items()}}), encoding="utf-8")
    out = tmp_path / "prepared"
    prepare(Dataset(name="t", format=source_format, path=str(root), padding=0.25, target="label", protected=()),
            Prepare(val_fraction=0.0, shard_size=16, max_reject_fraction=1.0), out)
    rejected = read_rejected(out)
    assert {row["image"] for row in rejected} == {key for key, label in keys.items() if label in LINE_BREAKING}
    for row in rejected:
        label = keys[row["image"]]
        assert row["reason"] == (f"label {label!r} contains {LINE_BREAKING[label]}, a line break or control "
                                 "character (labels.txt holds one label per line)")
    assert pd.read_json(out / "datasheet.json", typ="series")["labels"] == ["cat", "dog"]
