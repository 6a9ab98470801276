"""Cohort discovery of one prediction table: split, search the explore half, judge on the confirm half.

The one entry point the stage, the validation and the tests call (``discover``). The order
is the method: the split is drawn before anything reads ``pred``; the search
(``candidates.search``) receives the explore half's cells only; every reported number comes
from the confirm half (``confirm.confirm``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import pandas as pd

from fairvision.discover.candidates import Search, search
from fairvision.discover.cohorts import cell_table
from fairvision.discover.confirm import Confirmation, Finding, confirm
from fairvision.discover.settings import Settings
from fairvision.discover.split import explore_mask


@dataclasses.dataclass(frozen=True)
class Discovery:
    """The whole run: what was searched, what was judged, and which cohorts were selected."""

    attributes: tuple[str, ...]
    labels: tuple[str, ...]
    favorable: str
    settings: Settings
    explore_rows: int
    confirm_rows: int
    search: Search
    confirmation: Confirmation

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.confirmation.findings

    @property
    def selected(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.selected)


def discover(predictions: pd.DataFrame, *, labels: Sequence[str], favorable: str, attributes: Sequence[str],
             settings: Settings) -> Discovery:
    """Find the cohorts of ``attributes``' values the model fails more than the rest, with the FDR controlled.

    ``predictions``: columns ``id``, ``label``, ``pred`` and every attribute (protected
    attributes and any extra metadata columns alike). The split is stratified by label and
    every attribute. Raises ValueError naming a missing column, a repeated id, or a label or
    prediction that is not one of ``labels``.
    """
    attributes = tuple(attributes)
    missing = [c for c in ("id", "label", "pred", *attributes) if c not in predictions.columns]
    if missing:
        raise ValueError(f"the prediction table has no column(s) {', '.join(missing)}")
    if favorable not in labels:
        raise ValueError(f"favourable label {favorable!r} is not one of the labels ({', '.join(labels)})")
    explore = explore_mask(predictions, ("label", *attributes), settings.seed)
    explore_cells = cell_table(predictions[explore], attributes, labels)
    found = search(explore_cells, favorable, settings)
    confirm_cells = cell_table(predictions[~explore], attributes, labels)
    judged = confirm(found.candidates, confirm_cells, favorable, settings)
    return Discovery(attributes, tuple(labels), favorable, settings, int(explore.sum()), int((~explore).sum()),
                     found, judged)
