"""The datasheet: who is in the data, per split, label and protected group.

It is the audit's denominator: a reader sees how many images each group has before
reading any accuracy figure; the rejected and unlabelled counts say what validation and the
source left out. Which test groups are too small to judge is the audit's call
(`audit.min_group_size`, `fairvision.audit.coverage`), so changing it never rereads the source.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import pandas as pd

SPLITS = ("train", "val", "test")


def build_datasheet(
    manifest: pd.DataFrame,
    *,
    attributes: Sequence[str],
    protected: Sequence[str],
    labels: Sequence[str],
    rejected: int,
    unlabelled: int,
    header: dict[str, Any],
) -> dict[str, Any]:
    """Counts per split x attribute value x label, and per pair of protected attributes."""
    sheet = dict(header)
    sheet.update(
        labels=list(labels),
        attributes=list(attributes),
        protected=list(protected),
        n_images={split: int((manifest["split"] == split).sum()) for split in SPLITS},
        label_counts={split: {label: int(((manifest["split"] == split) & (manifest["label"] == label)).sum())
                              for label in labels} for split in SPLITS},
        rejected=rejected,
        unlabelled=unlabelled,
        counts={},
        intersections={},
    )
    for split in SPLITS:
        rows = manifest[manifest["split"] == split]
        sheet["counts"][split] = {
            attribute: {
                value: {label: int(((rows[attribute] == value) & (rows["label"] == label)).sum()) for label in labels}
                for value in sorted(manifest[attribute].unique())
            }
            for attribute in attributes
        }
        sheet["intersections"][split] = {
            f"{a} × {b}": {
                f"{va} × {vb}": int(n) for (va, vb), n in rows.groupby([a, b], sort=True).size().items()
            }
            for a, b in itertools.combinations(protected, 2)
        }
    return sheet

