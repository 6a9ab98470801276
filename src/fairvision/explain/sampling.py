"""Which test images are explained: per group of each protected attribute, a seeded sample stratified by
whether the model got the image right.

Errors are rare, so a simple random sample would hold almost none and say nothing about where the
model looks when it fails. Each group's sample is therefore half correct and half incorrect where
the group has enough of each (the other stratum fills the rest), and each stratum carries its share
of the group's test images, so a group's mean map is the stratified estimate of the mean over all
its test images, not over the sample's mix. Within a group the rows alternate strata, so any first
k of them (LIME's subset) stay balanced.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from fairvision.errors import FairvisionError

SAMPLE_COLUMNS = ("attribute", "group", "id", "correct", "stratum_share", "rank")


def sample_images(predictions: pd.DataFrame, attributes: tuple[str, ...], per_group: int, seed: int,
                  source: str) -> pd.DataFrame:
    """One row per (attribute, group, sampled image): the columns of SAMPLE_COLUMNS.

    ``stratum_share`` is the share of the group's test images in the row's stratum (correct or
    incorrect); ``rank`` orders the rows of a group, alternating strata. Every group is sampled
    with its own generator, derived from ``seed`` and its name, so adding a group moves no other.
    """
    missing = [column for column in ("id", "label", "pred", *attributes) if column not in predictions.columns]
    if missing:
        raise FairvisionError(f"{source}: no column {missing[0]!r}; rerun `fairvision evaluate`")
    table = predictions.sort_values("id", kind="stable")
    correct = (table["label"] == table["pred"]).to_numpy()
    rows = []
    for attribute in attributes:
        values = table[attribute]
        for group in sorted(values.dropna().unique()):
            members = (values == group).to_numpy()
            rng = np.random.default_rng([seed, zlib.crc32(attribute.encode()), zlib.crc32(str(group).encode())])
            strata = {flag: table["id"].to_numpy()[members & (correct == flag)] for flag in (True, False)}
            counts = _allocation(len(strata[True]), len(strata[False]), per_group)
            picked = {flag: rng.choice(strata[flag], size=counts[flag], replace=False) for flag in strata}
            order = [(flag, image) for pair in _alternate(picked[True], picked[False]) for flag, image in pair]
            for rank, (flag, image) in enumerate(order):
                rows.append((attribute, str(group), image, flag, len(strata[flag]) / members.sum(), rank))
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))


def _allocation(n_correct: int, n_incorrect: int, per_group: int) -> dict[bool, int]:
    """Half of ``per_group`` from each stratum (the incorrect one rounded down), the other filling a shortfall."""
    incorrect = min(n_incorrect, per_group // 2)
    correct = min(n_correct, per_group - incorrect)
    return {True: correct, False: min(n_incorrect, per_group - correct)}


def _alternate(first: np.ndarray, second: np.ndarray):
    """Pairs (True, a), (False, b), ... from the two strata in turn, the longer one's rest at the end."""
    for index in range(max(len(first), len(second))):
        yield [(flag, items[index]) for flag, items in ((True, first), (False, second)) if index < len(items)]
