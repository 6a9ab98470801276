"""FairFace's published format: label CSVs plus an image zip (or its extracted folder).

The same reader serves the real FairFace download and the synthetic generator's output,
so the synthetic default exercises exactly the code path a real audit takes. Rows are
validated value by value; a bad row becomes a rejection with a reason, never a crash
and never a silent drop.

Keys (the CSV's `file` column, e.g. ``train/1.jpg``) are untrusted text: only a plain
relative POSIX path under the dataset root is accepted (no absolute path, drive letter,
backslash, ``.``/``..`` or empty part), and in folder mode the resolved real path must
stay under the root, so neither a crafted CSV nor a symlink can make `prepare` read
files outside the dataset. The same rule applies to keys looked up in the zip.

An image's id is its key without the extension of its last part (``train/1.jpg`` ->
``train/1``), as in FairFace and in every manifest written so far (the validation split
is a hash of the id, so changing ids would move images between splits). Two keys that
differ only by extension (``train/1.jpg``, ``train/1.png``) therefore share an id: the
first row wins and the second is rejected with a reason naming the first key.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import zipfile
from pathlib import Path
from typing import Iterator

from fairvision.data.storage import key_problem
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
    """One CSV row with where it came from, so rejections can point at it.

    ``values`` maps the header's names to the row's fields (missing ones as ""), and
    ``field_count`` is how many fields the line really had, so a row with too many or
    too few is rejected instead of being silently truncated or padded.
    """

    csv_name: str
    line: int
    values: dict[str, str]
    field_count: int = len(CSV_HEADER)


def label_csv(root: Path, csv_split: str) -> Path:
    """The path of one label CSV; a missing file is fatal, naming it."""
    path = root / LABEL_CSVS[csv_split]
    if not path.is_file():
        raise FairvisionError(
            f"{path}: FairFace label file not found (expected {' and '.join(LABEL_CSVS.values())} in {root})"
        )
    return path


def read_label_rows(root: Path, csv_split: str) -> Iterator[LabelRow]:
    """Yield the rows of one label CSV; a missing file, wrong header or non-UTF-8 text is fatal.

    A UTF-8 byte-order mark is skipped and CRLF line endings are accepted, as spreadsheet
    programs write both.
    """
    path = label_csv(root, csv_split)
    line = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            if header != CSV_HEADER:
                raise FairvisionError(
                    f"{path}: header is {','.join(header)!r}, expected {','.join(CSV_HEADER)!r}"
                )
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue
                padded = fields + [""] * (len(CSV_HEADER) - len(fields))
                yield LabelRow(path.name, line, dict(zip(CSV_HEADER, padded)), field_count=len(fields))
    except UnicodeDecodeError as error:
        raise FairvisionError(f"{path}: not UTF-8 text ({error})") from None
    except csv.Error as error:
        raise FairvisionError(f"{path} line {line + 1}: unreadable CSV ({error})") from None


def file_problem(key: str) -> str | None:
    """Why a CSV ``file`` value cannot name an image under the dataset root, or None."""
    problem = key_problem(key)
    return None if problem is None else f"file: {problem}"


def image_id(key: str) -> str:
    """The key without the extension of its last part: ``train/1.jpg`` -> ``train/1``."""
    name_start, dot = key.rfind("/") + 1, key.rfind(".")
    # PurePosixPath's notion of a suffix, without its cost: not a leading dot, not a trailing one
    return key[:dot] if name_start < dot < len(key) - 1 else key


def row_problem(row: LabelRow) -> str | None:
    """Why a row cannot be used, or None when every field is valid."""
    if row.field_count != len(CSV_HEADER) or len(row.values) != len(CSV_HEADER):
        return f"expected {len(CSV_HEADER)} fields ({','.join(CSV_HEADER)}), found {row.field_count}"
    for attribute, allowed in ATTRIBUTE_VALUES.items():
        if row.values[attribute] not in allowed:
            return f"{attribute}: {row.values[attribute]!r} is not one of {', '.join(allowed)}"
    if row.values["service_test"] not in SERVICE_TEST_VALUES:
        return f"service_test: {row.values['service_test']!r} is not True or False"
    return file_problem(row.values["file"])


class MissingImage(Exception):
    """An image a row names cannot be read; ``reason`` goes to rejected.csv."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ImageStore:
    """Reads image bytes by FairFace key (``train/1.jpg``) from the zip or an extracted folder."""

    def __init__(self, root: Path, padding: float):
        archive = root / zip_name(padding)
        self._zip: zipfile.ZipFile | None = None
        self._root = root
        self._real_root = Path(os.path.realpath(root))
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

    def read(self, key: str) -> bytes:
        """The image's bytes; raises MissingImage with the reason when it cannot be read."""
        problem = file_problem(key)  # again here, so no caller can bypass the rule
        if problem is not None:
            raise MissingImage(problem)
        if self._zip is not None:
            if key not in self._names:
                raise MissingImage("image not found in the dataset")
            return self._zip.read(key)
        real = Path(os.path.realpath(self._root / key))
        if not real.is_relative_to(self._real_root):
            raise MissingImage(f"file: {key!r} resolves outside the dataset folder (a symlink to {real})")
        if not real.is_file():
            raise MissingImage("image not found in the dataset")
        try:
            return real.read_bytes()
        except OSError as error:
            raise MissingImage(f"cannot read image ({error.strerror or error})") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
