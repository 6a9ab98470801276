"""Split the prediction table into the groups an audit compares, as confusion counts.

A *partition* is one protected attribute (``race``) or one configured intersection
(``race × age``). Each of its groups is reduced to a confusion matrix (true label ×
predicted label): every metric, and every bootstrap replicate, is computed from these
counts alone. Groups known from the training data but absent from the test split keep a
row of zeros, so they are reported with n = 0 instead of vanishing.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fairvision.groups import SEPARATOR, group_keys, partition_name
from fairvision.params import ATTRIBUTE_VALUES


@dataclasses.dataclass(frozen=True)
class Partition:
    """Confusion counts per group of one attribute or intersection.

    ``counts[g, t, p]`` is the number of test images of ``groups[g]`` with true label
    ``labels[t]`` predicted as ``labels[p]`` (for several seeds' models: its mean over them).
    """

    name: str
    attributes: tuple[str, ...]
    groups: tuple[str, ...]
    labels: tuple[str, ...]
    counts: np.ndarray
    seed_counts: np.ndarray | None = None  # several seeds: each one's counts (K, G, L, L); ``counts`` is their mean

    @property
    def sizes(self) -> np.ndarray:
        """Images per group (integers, also where ``counts`` are several seeds' means)."""
        totals = self.counts.reshape(len(self.groups), -1).sum(axis=1)
        return np.rint(totals).astype(np.int64) if np.issubdtype(totals.dtype, np.floating) else totals


def natural_order(attribute: str, groups: Iterable[str]) -> list[str]:
    """FairFace's order for the values it knows (age buckets by age); any other value after them, sorted."""
    known = ATTRIBUTE_VALUES.get(attribute, ())
    return sorted(groups, key=lambda group: (known.index(group) if group in known else len(known), group))


def ordered_groups(attributes: Sequence[str], values: Iterable[str]) -> tuple[str, ...]:
    """Groups in natural order, attribute by attribute for an intersection."""
    def key(group: str) -> tuple:
        parts = group.split(SEPARATOR)
        known = [ATTRIBUTE_VALUES.get(a, ()) for a in attributes]
        return tuple((k.index(p) if p in k else len(k), p) for k, p in zip(known, parts))
    return tuple(sorted(set(values), key=key))


def build_partition(
    predictions: pd.DataFrame, attributes: Sequence[str], labels: Sequence[str], known_groups: Iterable[str] = (),
    *, codes: tuple[np.ndarray, ...] | None = None,
) -> Partition:
    """Count (group, true label, predicted label) over ``predictions``; ``known_groups`` are kept even when absent.

    ``codes`` are the rows' ``label_codes``, when already known (one table, many partitions).
    Raises ValueError naming the column when a label or prediction is not one of ``labels``.
    """
    keys = group_keys(predictions, attributes)
    groups = ordered_groups(attributes, [*keys.unique(), *known_groups])
    group_codes = category_codes(keys, groups)
    truth, predicted = codes if codes is not None else label_codes(predictions, labels)
    counts = count_cells(group_codes, [truth, predicted], len(groups), len(labels))
    return Partition(partition_name(attributes), tuple(attributes), groups, tuple(labels), counts)


def category_codes(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Each value's position in ``categories`` (-1 if absent): hash the few distinct values, not every row."""
    row_codes, uniques = pd.factorize(values)
    return pd.Index(list(categories)).get_indexer(uniques)[row_codes]


def label_codes(
    predictions: pd.DataFrame, labels: Sequence[str], columns: Sequence[str] = ("label", "pred")
) -> tuple[np.ndarray, ...]:
    """Each row's label in each of ``columns`` as positions in ``labels``; ValueError naming the column of an
    unknown value."""
    def codes_of(name: str) -> np.ndarray:
        codes = category_codes(predictions[name], labels)
        if (codes < 0).any():
            unknown = sorted(set(predictions[name][codes < 0].astype(str)))
            raise ValueError(f"column `{name}` holds values that are not labels of the model: {', '.join(unknown)}")
        return codes
    return tuple(codes_of(name) for name in columns)


def count_cells(group_codes: np.ndarray, label_codes: Sequence[np.ndarray], n_groups: int, n_labels: int) -> np.ndarray:
    """Counts over (group, *label columns): shape ``(n_groups, n_labels, ..., n_labels)``."""
    shape = (n_groups, *([n_labels] * len(label_codes)))
    flat = np.ravel_multi_index((group_codes, *label_codes), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
