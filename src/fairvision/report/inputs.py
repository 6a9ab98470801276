"""Read the report's inputs, failing with the file (and key) at fault instead of a KeyError later.

The report is the last stage of the pipeline, so its inputs are written by other
stages; checking the keys the report relies on here keeps every later module free
of defensive code and gives the user a message that says which file to regenerate.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from fairvision.errors import FairvisionError

FAIRNESS_KEYS = ("dataset", "target", "labels", "favorable_label", "n", "accuracy", "min_group_size",
                 "tolerance", "attributes")
ATTRIBUTE_KEYS = ("privileged", "groups", "comparisons")
STATUSES = ("ok", "flagged", "too_small")
TRAIN_KEYS = ("options", "seed", "epochs", "batch_size", "learning_rate", "image_size", "n_train", "n_val",
              "parameters", "wall_seconds", "images_per_second", "labels", "tensorflow", "final")
DATASHEET_KEYS = ("dataset", "format", "source", "source_sha256", "target", "labels", "protected", "n_images",
                  "rejected", "counts")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")

History = list[dict[str, float | None]]


@dataclasses.dataclass(frozen=True)
class BackboneInputs:
    """Everything the report knows about one backbone, read from its audit and training outputs."""

    fairness: dict[str, Any]
    train: dict[str, Any]
    history: History


def read_backbone(
    backbone: str, audits_dir: str | os.PathLike[str], models_dir: str | os.PathLike[str]
) -> BackboneInputs:
    """Read ``audits_dir/<backbone>/fairness.json`` and ``models_dir/<backbone>/{train.json,history.csv}``."""
    fairness_path = Path(audits_dir) / backbone / "fairness.json"
    fairness = read_json(fairness_path, FAIRNESS_KEYS)
    for attribute, analysis in fairness["attributes"].items():
        _check_attribute(analysis, fairness_path, f"attributes.{attribute}")
    model_dir = Path(models_dir) / backbone
    return BackboneInputs(
        fairness=fairness,
        train=read_json(model_dir / "train.json", TRAIN_KEYS),
        history=read_history(model_dir / "history.csv"),
    )


def read_datasheet(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the dataset's datasheet.json (written by `prepare`)."""
    return read_json(Path(path), DATASHEET_KEYS)


def read_json(path: Path, keys: Iterable[str]) -> dict[str, Any]:
    """Parse a JSON object and check it has ``keys``; NaN/Infinity are rejected since they are not JSON."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except FileNotFoundError:
        raise FairvisionError(f"{path}: not found; run the stage that writes it first") from None
    except (OSError, UnicodeDecodeError) as error:
        raise FairvisionError(f"{path}: cannot read: {error}") from None
    except ValueError as error:
        raise FairvisionError(f"{path}: not valid JSON: {error}") from None
    _require(data, keys, path, "")
    return data


def read_history(path: Path) -> History:
    """Parse the per-epoch training history; an empty cell becomes None (shown as n/a)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in HISTORY_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise FairvisionError(f"{path}: header lacks column(s) {', '.join(missing)}")
            rows = [_history_row(row, path, reader.line_num) for row in reader]
    except FileNotFoundError:
        raise FairvisionError(f"{path}: not found; run the stage that writes it first") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FairvisionError(f"{path}: cannot read: {error}") from None
    if not rows:
        raise FairvisionError(f"{path}: has no epoch rows")
    return rows


def _history_row(row: Mapping[str, str | None], path: Path, line: int) -> dict[str, float | None]:
    try:
        return {c: float(row[c]) if row[c] else None for c in HISTORY_COLUMNS}
    except ValueError as error:
        raise FairvisionError(f"{path}, line {line}: {error}") from None


def _check_attribute(analysis: Any, path: Path, where: str) -> None:
    """Every group but the privileged one needs a comparison with a known status and its metrics."""
    _require(analysis, ATTRIBUTE_KEYS, path, where)
    for group in analysis["groups"]:
        if group == analysis["privileged"]:
            continue
        comparison = analysis["comparisons"].get(group)
        _require(comparison, ("status", "metrics"), path, f"{where}.comparisons.{group}")
        if comparison["status"] not in STATUSES:
            raise FairvisionError(f"{path}: `{where}.comparisons.{group}.status` must be one of "
                                  f"{', '.join(STATUSES)}, got {comparison['status']!r}")


def _require(data: Any, keys: Iterable[str], path: Path, where: str) -> None:
    if not isinstance(data, dict):
        raise FairvisionError(f"{path}: `{where or 'top level'}` must be a JSON object")
    missing = [key for key in keys if key not in data]
    if missing:
        names = ", ".join(f"`{where}.{key}`" if where else f"`{key}`" for key in missing)
        raise FairvisionError(f"{path}: missing {names}")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
