"""The datasheet: who is in the data, per split, label and protected group.

It is the audit's denominator: a reader sees how many images each group has before
reading any accuracy figure; the rejected and unlabelled counts say what validation and the
source left out, and a warning names every test group too small to be judged.
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
    min_group_size: int,
    header: dict[str, Any],
) -> dict[str, Any]:
    """Counts per split x attribute value x label, and per pair of protected attributes, with warnings."""
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
        warnings=small_group_warnings(manifest, protected, min_group_size),
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


def small_group_warnings(manifest: pd.DataFrame, protected: Sequence[str], min_group_size: int) -> list[str]:
    """One sentence per protected group (and pair of groups) with fewer test images than ``min_group_size``.

    Groups are every value seen in any split, so a group missing from test is warned about with 0.
    """
    test = manifest[manifest["split"] == "test"]
    partitions = [(a,) for a in protected] + list(itertools.combinations(protected, 2))
    warnings = []
    for attributes in partitions:
        columns = list(attributes)
        sizes = test.groupby(columns, sort=False).size()
        for values in manifest[columns].drop_duplicates().sort_values(columns).itertuples(index=False):
            n = int(sizes.get(tuple(values) if len(values) > 1 else values[0], 0))
            if n < min_group_size:
                group = " × ".join(f"{a} = {v}" for a, v in zip(attributes, values))
                warnings.append(f"test group {group} has {n} images, fewer than audit.min_group_size "
                                f"({min_group_size}): its metrics are reported but never judged")
    return warnings
