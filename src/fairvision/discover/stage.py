"""The discover stage: one backbone's predictions in, its cohorts.json out.

A stage function with plain arguments (DESIGN: the CLI, DVC and Kubeflow call the same
function): reads the first seed's predictions table, searches the dataset's protected
attributes and any extra metadata columns, and writes the JSON atomically. Missing values are
refused as the audit refuses them: a missing attribute would otherwise become a cohort named `nan`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from fairvision.discover.engine import Discovery, discover
from fairvision.discover.serialize import to_json
from fairvision.discover.settings import Settings
from fairvision.errors import FairvisionError
from fairvision.files import write_json


def discover_stage(predictions: Path, out: Path, *, labels: Sequence[str], favorable: str,
                   protected: Sequence[str], extra_columns: Sequence[str], settings: Settings) -> Discovery:
    """Discover cohorts in ``predictions`` (parquet: id, label, pred, attributes), write ``out`` and return the run.

    Raises FairvisionError naming the file for a missing column, a missing value, a repeated id
    or an unknown label.
    """
    table = pd.read_parquet(predictions)
    attributes = (*protected, *extra_columns)
    missing = {column: int(n) for column, n in table.isna().sum().items()
               if n and column in ("label", "pred", *attributes)}
    if missing:
        listed = ", ".join(f"`{column}` ({n} of {len(table)} rows)" for column, n in missing.items())
        raise FairvisionError(f"{predictions}: missing values in {listed}; discovery cannot put those rows in a "
                              "cohort. Fix the source's attributes and rerun `prepare` and `evaluate`")
    try:
        found = discover(table, labels=labels, favorable=favorable, attributes=attributes, settings=settings)
    except ValueError as error:
        raise FairvisionError(f"{predictions}: {error}") from None
    write_json(out, to_json(found))
    return found
