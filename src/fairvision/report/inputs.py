"""Read the report's inputs, failing with the file (and key) at fault instead of a KeyError later.

The report is the last stage of the pipeline, so its inputs are written by other
stages. ``fairness.json`` is parsed by the audit's own reader (``fairvision.audit.record``,
shared with `fairvision check`) into typed records: later modules get typed values and no
defensive code. Training outputs and the datasheet keep their plain-dict form; only their
keys are checked, and the user gets a message naming the file to regenerate.

Explanations are optional: `fairvision report` runs on an audit alone (the explain stage came
later, and a project may skip it), so where ``explanations/explanations.json`` is absent the card
says so in one line. Where it exists it is parsed by the explain stage's own reader
(``fairvision.explain.record``), and every mean map it names must be there to be inlined.
Cohort discovery is optional alike: ``cohorts.json`` is read by the discover stage's reader
(``fairvision.discover.record``) where it exists, with the pictures of its embedding cohorts.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from fairvision.audit.record import Fairness, read_fairness
from fairvision.discover.record import JSON_NAME as COHORTS_JSON
from fairvision.discover.record import Cohorts, read_cohorts, read_examples
from fairvision.errors import FairvisionError
from fairvision.explain.record import JSON_NAME, Explanations, read_explanations
from fairvision.jsonread import read_json

TRAIN_KEYS = ("options", "seed", "epochs", "batch_size", "learning_rate", "image_size", "n_train", "n_val",
              "parameters", "labels", "tensorflow", "final")
TIMING_KEYS = ("wall_seconds", "images_per_second")
DATASHEET_KEYS = ("dataset", "format", "source", "source_sha256", "target", "labels", "protected", "n_images",
                  "rejected", "counts")
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")

EXPLANATIONS = "explanations"  # the explain stage's folder inside a backbone's audit folder
COHORT_EXAMPLES = "cohort-examples"  # the discover stage's pictures, beside it (layout.cohort_examples_dir)

History = list[dict[str, float | None]]


@dataclasses.dataclass(frozen=True)
class BackboneInputs:
    """Everything the report knows about one backbone, read from its audit and training outputs."""

    fairness: Fairness
    train: dict[str, Any]
    history: History
    explanations: Explanations | None  # None where the explain stage has not run
    mean_maps: Mapping[str, bytes]  # the PNG of each mean map, by its path in explanations.json
    cohorts: Cohorts | None  # None where the discover stage has not run
    cohort_pictures: Mapping[str, bytes]  # each described embedding cohort's strip of examples (PNG), by cohort


def read_backbone(
    backbone: str, audits_dir: str | os.PathLike[str], models_dir: str | os.PathLike[str],
    training_dir: str | os.PathLike[str], timings_dir: str | os.PathLike[str],
) -> BackboneInputs:
    """Read ``<audits_dir>/<B>/fairness.json``; of the first seed it audited (the served model, ``seed-<S>``)
    ``<models_dir>/<B>/seed-<S>/train.json``, ``<training_dir>/<B>/seed-<S>/history.csv`` and
    ``<timings_dir>/<B>/seed-<S>.json``; where the explain stage ran, ``<audits_dir>/<B>/explanations/``
    (explanations.json and the mean maps' PNGs); and where the discover stage ran, ``<audits_dir>/<B>/cohorts.json``.
    The spread over every seed is in fairness.json."""
    cohorts = Path(audits_dir) / backbone / COHORTS_JSON
    folder = Path(audits_dir) / backbone / EXPLANATIONS
    explanations = read_explanations(folder / JSON_NAME) if (folder / JSON_NAME).is_file() else None
    fairness = read_fairness(Path(audits_dir) / backbone / "fairness.json")
    seed = f"seed-{fairness.seeds.values[0]}"
    train_path = Path(models_dir) / backbone / seed / "train.json"
    train = read_json(train_path, TRAIN_KEYS)
    if train["seed"] != fairness.seeds.values[0]:  # the card states this record as the first seed's
        raise FairvisionError(f"{train_path}: `seed` is {train['seed']!r}, but its folder is {seed}; rerun "
                              f"`fairvision train` for seed {fairness.seeds.values[0]} of {backbone}")
    return BackboneInputs(
        fairness=fairness,
        train=train | read_json(Path(timings_dir) / backbone / f"{seed}.json", TIMING_KEYS),
        history=read_history(Path(training_dir) / backbone / seed / "history.csv"),
        explanations=explanations,
        mean_maps={} if explanations is None else read_mean_maps(folder, explanations),
        cohorts=read_cohorts(cohorts) if cohorts.is_file() else None,
        cohort_pictures={name: _read_bytes(path) for name, path in read_examples(
            Path(audits_dir) / backbone / COHORT_EXAMPLES).items()},
    )


def read_mean_maps(folder: Path, explanations: Explanations) -> dict[str, bytes]:
    """The bytes of every mean map explanations.json names, by that name, so the page can inline them."""
    names = sorted({group.mean_map for method in explanations.methods.values()
                    for part in method.attributes.values() for group in part.groups.values()})
    return {name: _read_bytes(folder / name) for name in names}


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FairvisionError(f"{path}: not found, yet {JSON_NAME} names it; rerun `fairvision explain`") from None
    except OSError as error:
        raise FairvisionError(f"{path}: cannot read: {error}") from None


def read_datasheet(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the dataset's datasheet.json (written by `prepare`); keys older datasheets lack get their defaults."""
    return {"unlabelled": 0} | read_json(Path(path), DATASHEET_KEYS)


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
