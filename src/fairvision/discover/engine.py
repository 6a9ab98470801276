"""Cohort discovery of one prediction table: split, search the explore half, judge on the confirm half.

The one entry point the stage, the validation and the tests call (``discover``). The order
is the method: the split is drawn before anything reads ``pred``; the embedding rules
(``embedding.fit_rules``) and the search (``candidates.search``) receive the explore half only;
the rules are applied to the confirm half once frozen, and every reported number comes from the
confirm half (``confirm.confirm``).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from fairvision.audit.partitions import count_cells, label_codes
from fairvision.discover.candidates import Search, search
from fairvision.discover.cohorts import cell_table
from fairvision.discover.confirm import Confirmation, Finding, confirm
from fairvision.discover.embedding import EmbeddingCohort, EmbeddingRules, fit_rules
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
    rules: EmbeddingRules | None  # None: no embeddings searched
    confirm_membership: np.ndarray | None  # (confirm rows, rules' cohorts): who each embedding cohort holds
    confirm_ids: tuple[str, ...]  # the confirm half's ids, in the table's order

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.confirmation.findings

    @property
    def selected(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.selected)


def discover(predictions: pd.DataFrame, *, labels: Sequence[str], favorable: str, attributes: Sequence[str],
             settings: Settings, embeddings: np.ndarray | None = None) -> Discovery:
    """Find the cohorts of ``attributes``' values the model fails more than the rest, with the FDR controlled.

    ``predictions``: columns ``id``, ``label``, ``pred`` and every attribute (protected
    attributes and any extra metadata columns alike). The split is stratified by label and
    every attribute. Raises ValueError naming a missing column, a repeated id, or a label or
    prediction that is not one of ``labels``. ``embeddings`` ``(rows, D)``, one per row of
    ``predictions`` (the model's `embeddings` endpoint), adds the embedding searches
    (``settings.embedding_*``); None searches the attributes only.
    """
    attributes = tuple(attributes)
    missing = [c for c in ("id", "label", "pred", *attributes) if c not in predictions.columns]
    if missing:
        raise ValueError(f"the prediction table has no column(s) {', '.join(missing)}")
    if favorable not in labels:
        raise ValueError(f"favourable label {favorable!r} is not one of the labels ({', '.join(labels)})")
    if embeddings is not None and (np.ndim(embeddings) != 2 or len(embeddings) != len(predictions)):
        raise ValueError(f"the embeddings must be one row per prediction ({len(predictions)} rows), got an array of "
                         f"shape {np.shape(embeddings)}")
    if embeddings is not None and not np.isfinite(embeddings).all():
        first = int(np.argmin(np.isfinite(embeddings).all(axis=1)))
        raise ValueError(f"the embeddings hold non-finite values (first at row {first})")
    explore = explore_mask(predictions, ("label", *attributes), settings.seed)
    truth, predicted = label_codes(predictions, labels)
    rules, explore_extra, confirm_extra, membership = None, {}, {}, None
    if embeddings is not None and settings.uses_embeddings:
        rules = fit_rules(embeddings[explore], truth[explore] != predicted[explore],
                          components=settings.embedding_components, dimensions=settings.embedding_dimensions,
                          error_weight=settings.embedding_error_weight, shares=settings.embedding_shares,
                          seed=settings.seed)
        explore_extra = _confusions(rules.cohorts, rules.membership(embeddings[explore]), truth[explore],
                                    predicted[explore], len(labels))
        membership = rules.membership(embeddings[~explore])  # the rules are frozen: now the confirm half
        confirm_extra = _confusions(rules.cohorts, membership, truth[~explore], predicted[~explore], len(labels))
    explore_cells = cell_table(predictions[explore], attributes, labels)
    found = search(explore_cells, favorable, settings, explore_extra)
    confirm_cells = cell_table(predictions[~explore], attributes, labels)
    judged = confirm(found.candidates, confirm_cells, favorable, settings, confirm_extra)
    return Discovery(attributes, tuple(labels), favorable, settings, int(explore.sum()), int((~explore).sum()),
                     found, judged, rules, membership, tuple(predictions["id"].astype(str)[~explore]))


def _confusions(cohorts: Sequence[EmbeddingCohort], membership: np.ndarray, truth: np.ndarray, predicted: np.ndarray,
                n_labels: int) -> dict[EmbeddingCohort, np.ndarray]:
    """Each cohort's confusion counts ``(K, K)`` over the rows ``membership`` gives it."""
    return {cohort: count_cells(np.zeros(int(membership[:, c].sum()), np.int64),
                                [truth[membership[:, c]], predicted[membership[:, c]]], 1, n_labels)[0]
            for c, cohort in enumerate(cohorts)}
