"""The discover stage: one backbone's predictions in, its cohorts.json out.

A stage function with plain arguments (DESIGN: the CLI, DVC and Kubeflow call the same
function): reads the first seed's predictions table, searches the dataset's protected
attributes and any extra metadata columns, and writes the JSON atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from fairvision.discover.engine import discover
from fairvision.discover.serialize import to_json
from fairvision.discover.settings import Settings
from fairvision.errors import FairvisionError
from fairvision.files import write_json


def discover_stage(predictions: Path, out: Path, *, labels: Sequence[str], favorable: str,
                   protected: Sequence[str], extra_columns: Sequence[str], settings: Settings) -> None:
    """Discover cohorts in ``predictions`` (parquet: id, label, pred, attributes) and write ``out``.

    Raises FairvisionError naming the file for a missing column, a repeated id or an unknown label.
    """
    table = pd.read_parquet(predictions)
    try:
        found = discover(table, labels=labels, favorable=favorable, attributes=(*protected, *extra_columns),
                         settings=settings)
    except ValueError as error:
        raise FairvisionError(f"{predictions}: {error}") from None
    write_json(out, to_json(found))
