"""FairFace's published format: label CSVs plus an image zip (or its extracted folder).

The same reader serves the real FairFace download and the synthetic generator's output,
so the synthetic default exercises exactly the code path a real audit takes. Rows are
validated value by value; a bad row becomes a rejection with a reason, never a crash
and never a silent drop.
"""

from __future__ import annotations

import csv
import dataclasses
import zipfile
from pathlib import Path
from typing import Iterator

from fairvision.errors import FairvisionError

CSV_HEADER = ("file", "age", "gender", "race", "service_test")
LABEL_CSVS = {"train": "fairface_label_train.csv", "val": "fairface_label_val.csv"}
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "race": (
        "White",
        "Black",
        "Latino_Hispanic",
        "East Asian",
        "Southeast Asian",
        "Indian",
        "Middle Eastern",
    ),
    "gender": ("Male", "Female"),
    "age": ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"),
}
SERVICE_TEST_VALUES = ("True", "False")


def zip_name(padding: float) -> str:
    """FairFace ships one zip per crop padding: 0.25 -> margin025, 1.25 -> margin125."""
    return f"fairface-img-margin{round(padding * 100):03d}-trainval.zip"


@dataclasses.dataclass(frozen=True)
class LabelRow:
    """One CSV row with where it came from, so rejections can point at it."""

    csv_name: str
    line: int
    values: dict[str, str]


def read_label_rows(root: Path, csv_split: str) -> Iterator[LabelRow]:
    """Yield the rows of one label CSV; a wrong header is fatal, naming file and header."""
    path = root / LABEL_CSVS[csv_split]
    if not path.is_file():
        raise FairvisionError(f"{path}: FairFace label file not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != CSV_HEADER:
            raise FairvisionError(f"{path}: header is {','.join(header)!r}, expected {','.join(CSV_HEADER)!r}")
        for values in reader:
            if not values:
                continue
            yield LabelRow(path.name, reader.line_num, dict(zip(CSV_HEADER, values + [""] * (5 - len(values)))))


def row_problem(row: LabelRow) -> str | None:
    """Why a row cannot be used, or None when every field is valid."""
    if len(row.values) != len(CSV_HEADER) or None in row.values:
        return f"expected {len(CSV_HEADER)} fields"
    for attribute, allowed in ATTRIBUTE_VALUES.items():
        if row.values[attribute] not in allowed:
            return f"{attribute}: {row.values[attribute]!r} is not one of {', '.join(allowed)}"
    if row.values["service_test"] not in SERVICE_TEST_VALUES:
        return f"service_test: {row.values['service_test']!r} is not True or False"
    if not row.values["file"]:
        return "file: empty"
    return None


class ImageStore:
    """Reads image bytes by FairFace key (``train/1.jpg``) from the zip or an extracted folder."""

    def __init__(self, root: Path, padding: float):
        archive = root / zip_name(padding)
        self._zip: zipfile.ZipFile | None = None
        self._root = root
        if archive.is_file():
            try:
                self._zip = zipfile.ZipFile(archive)
            except zipfile.BadZipFile as error:
                raise FairvisionError(f"{archive}: not a readable zip file ({error})") from None
            self._names = set(self._zip.namelist())
            self.source = archive
        elif (root / "train").is_dir() or (root / "val").is_dir():
            self.source = root
        else:
            raise FairvisionError(f"{root}: neither {archive.name} nor extracted train/ and val/ folders found")

    def read(self, key: str) -> bytes | None:
        """The image's bytes, or None when the key is absent."""
        if self._zip is not None:
            return self._zip.read(key) if key in self._names else None
        path = self._root / key
        if ".." in Path(key).parts or not path.is_file():
            return None
        return path.read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
