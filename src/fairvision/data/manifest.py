"""manifest.parquet's columns: the fixed ones around one column per attribute of the dataset.

One row per example: ``id``, ``image`` (key under the dataset root), ``split``, ``label``, then
the dataset's attributes (FairFace: race, gender, age; a side CSV: its own), ``sha256`` of the
stored bytes, and ``box`` (normalised x, y, x2, y2) only for examples cropped from a box.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import pandas as pd

LEADING = ("id", "image", "split", "label")
TRAILING = ("sha256",)
BOX = "box"
RESERVED = (*LEADING, *TRAILING, BOX)  # no attribute may be named like these


def manifest_columns(attributes: Iterable[str], boxes: bool) -> list[str]:
    return [*LEADING, *attributes, *TRAILING, *([BOX] if boxes else [])]


def attribute_columns(columns: Iterable[str]) -> list[str]:
    """The attribute columns of a manifest, in order."""
    return [column for column in columns if column not in RESERVED]


def class_labels(manifest: pd.DataFrame) -> list[str]:
    """The classifier's labels: those of the train split, sorted (labels.txt's order)."""
    return sorted(manifest.loc[manifest["split"] == "train", "label"].unique())
