"""Shared fixtures: tiny FairFace-format datasets written by hand, so each test controls every row."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fairvision.data.fairface import CSV_HEADER, LABEL_CSVS, zip_name  # noqa: E402


def encode_image(colour: tuple[int, int, int], image_format: str = "JPEG", size: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=image_format)
    return buffer.getvalue()


def write_fairface(
    root: Path,
    rows: dict[str, list[list[str]]],
    images: dict[str, bytes],
    *,
    as_zip: bool = True,
    header: tuple[str, ...] = CSV_HEADER,
) -> Path:
    """Write label CSVs (``rows['train']``, ``rows['val']``) and images, zipped or extracted."""
    root.mkdir(parents=True, exist_ok=True)
    for split, name in LABEL_CSVS.items():
        with (root / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows.get(split, []))
    if as_zip:
        with zipfile.ZipFile(root / zip_name(0.25), "w") as archive:
            for key, data in images.items():
                archive.writestr(key, data)
    else:
        for key, data in images.items():
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)
    return root


def valid_rows(split: str, count: int) -> tuple[list[list[str]], dict[str, bytes]]:
    """``count`` valid rows cycling through genders and a few races, with their images."""
    races = ("White", "Black", "East Asian")
    rows, images = [], {}
    for n in range(1, count + 1):
        key = f"{split}/{n}.jpg"
        gender = ("Male", "Female")[n % 2]
        rows.append([key, "20-29", gender, races[n % 3], "True"])
        images[key] = encode_image((n % 256, 80, 200 if gender == "Female" else 40))
    return rows, images


@pytest.fixture
def small_fairface(tmp_path: Path) -> Path:
    train_rows, train_images = valid_rows("train", 40)
    val_rows, val_images = valid_rows("val", 12)
    return write_fairface(tmp_path / "fairface", {"train": train_rows, "val": val_rows}, train_images | val_images)
