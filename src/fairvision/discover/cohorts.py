"""Cohorts as conditions on attributes, and a half's finest cells, which every cohort's counts are summed from.

A cohort is a conjunction of conditions ``attribute ∈ values``: a labelled intersection
(one value per attribute, ``race=Black × age=20-29``) or a subset MDSS returns (several
values of an attribute). Each half of the table is reduced once to its finest cells (one per
combination of every attribute value present, with its confusion counts); a cohort's counts
on that half are the sum over the cells it covers, so thousands of cohorts cost a few
matrix sums instead of a pass over the rows each.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from fairvision.audit.partitions import category_codes, count_cells, label_codes
from fairvision.groups import SEPARATOR


@dataclasses.dataclass(frozen=True, order=True)
class Cohort:
    """``conditions``: ``(attribute, allowed values)`` pairs, attributes in the table's order, values sorted."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, attributes: Sequence[str], **values: str | Sequence[str]) -> Cohort:
        """The cohort ``attribute=value`` (or a list of values) for each keyword, in ``attributes``' order."""
        unknown = sorted(set(values) - set(attributes))
        if unknown:
            raise ValueError(f"unknown attribute(s) {', '.join(unknown)}; known: {', '.join(attributes)}")
        return cls(tuple((a, tuple(sorted([values[a]] if isinstance(values[a], str) else values[a])))
                         for a in attributes if a in values))

    @property
    def order(self) -> int:
        return len(self.conditions)

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.conditions)

    @property
    def name(self) -> str:
        """``race=Black × age=20-29``; a condition with several values reads ``race∈{Black, White}``."""
        return SEPARATOR.join(f"{a}={v[0]}" if len(v) == 1 else f"{a}∈{{{', '.join(v)}}}"
                              for a, v in self.conditions)

    def parents(self) -> tuple[Cohort, ...]:
        """The cohorts with one condition fewer: what an intersection may merely inherit its gap from."""
        if self.order < 2:
            return ()
        return tuple(Cohort(self.conditions[:i] + self.conditions[i + 1:]) for i in range(self.order))

    def covers_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of ``frame`` the cohort holds: boolean ``(rows,)``."""
        inside = np.ones(len(frame), dtype=bool)
        for attribute, allowed in self.conditions:
            inside &= frame[attribute].astype(str).isin(allowed).to_numpy()
        return inside

    def covers(self, cells: CellTable) -> np.ndarray:
        """Which of ``cells``' finest cells the cohort holds: boolean ``(F,)``."""
        inside = np.ones(len(cells.values), dtype=bool)
        for attribute, allowed in self.conditions:
            inside &= np.isin(cells.values[:, cells.attributes.index(attribute)], allowed)
        return inside


@dataclasses.dataclass(frozen=True)
class CellTable:
    """One half's finest cells: ``values[f]`` (one string per attribute) and ``confusion[f]`` (true × predicted)."""

    attributes: tuple[str, ...]
    labels: tuple[str, ...]
    values: np.ndarray  # (F, A) object
    confusion: np.ndarray  # (F, K, K) int64

    @property
    def rows(self) -> int:
        return int(self.confusion.sum())

    def counts(self, cohorts: Sequence[Cohort], per_cell: np.ndarray) -> np.ndarray:
        """Each cohort's sum of ``per_cell`` (``(F, ...)``), e.g. events and totals: ``(len(cohorts), ...)``."""
        if not cohorts:
            return np.zeros((0, *per_cell.shape[1:]), dtype=per_cell.dtype)
        membership = np.stack([c.covers(self) for c in cohorts]).astype(per_cell.dtype)
        return np.tensordot(membership, per_cell, axes=(1, 0))


def cell_table(frame: pd.DataFrame, attributes: Sequence[str], labels: Sequence[str]) -> CellTable:
    """Reduce ``frame`` (columns ``label``, ``pred`` and ``attributes``) to its finest cells.

    Each attribute is factorised once and the codes combined in mixed radix, so the cost is a
    few vectorised passes over the rows whatever the number of cohorts.
    """
    attributes = tuple(attributes)
    truth, predicted = label_codes(frame, labels)
    if not attributes:
        values = np.empty((1, 0), dtype=object)
        return CellTable((), tuple(labels), values, count_cells(np.zeros(len(frame), np.int64), [truth, predicted],
                                                               1, len(labels)))
    codes, uniques = [], []
    for attribute in attributes:
        column = frame[attribute].astype(str)
        found = sorted(column.unique())
        codes.append(category_codes(column, found))
        uniques.append(np.array(found, dtype=object))
    combined = np.ravel_multi_index(codes, [len(u) for u in uniques]) if len(frame) else np.zeros(0, np.int64)
    present, cell = np.unique(combined, return_inverse=True)
    positions = np.unravel_index(present, [len(u) for u in uniques])
    values = np.stack([u[p] for u, p in zip(uniques, positions)], axis=1) if len(present) else np.empty(
        (0, len(attributes)), dtype=object)
    confusion = count_cells(cell.astype(np.int64), [truth, predicted], len(present), len(labels))
    return CellTable(attributes, tuple(labels), values, confusion)
