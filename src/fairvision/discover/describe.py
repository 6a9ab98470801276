"""What an embedding cohort is made of: which labelled groups it over- or under-represents, and which images.

A cohort found in the embeddings has no name a reader understands, so it is described on the
confirm half (rows the search never saw): its size, and for every value of every searched
attribute the odds ratio of belonging to the cohort with that value against without it, with
Woolf's interval (0.5 added to every cell when one is empty, Haldane–Anscombe). So many ratios
are read at once that each interval is Bonferroni-adjusted over the cohort's values, at level
1 − (1 − level) / m: a value is called over- or under-represented only when its adjusted
interval excludes 1. The example images are chosen here too (the model's errors first, then
by a keyed hash of the id, so the choice is reproducible and no row order matters); the stage
draws them with their Grad-CAM maps.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from fairvision.discover.embedding import EmbeddingCohort
from fairvision.discover.engine import Discovery

EXAMPLES = 8  # images in a cohort's strip


@dataclasses.dataclass(frozen=True)
class OddsRatio:
    """``attribute=value`` inside the cohort against outside it: counts, the ratio and its adjusted interval."""

    attribute: str
    value: str
    in_cohort: int  # cohort rows with the value
    outside: int  # rows outside the cohort with the value
    odds_ratio: float
    low: float
    high: float

    @property
    def reading(self) -> str:
        """``over``, ``under`` or ``even`` (the adjusted interval contains 1)."""
        return "over" if self.low > 1 else "under" if self.high < 1 else "even"


@dataclasses.dataclass(frozen=True)
class Description:
    """One embedding cohort on the confirm half."""

    size: int
    share: float  # of the confirm half
    level: float  # the odds ratios' (Bonferroni-adjusted) interval level
    odds_ratios: tuple[OddsRatio, ...]  # strongest first (largest |log odds ratio|)
    examples: tuple[str, ...]  # ids, errors first


def describe(members: np.ndarray, frame: pd.DataFrame, attributes: Sequence[str], errors: np.ndarray, level: float,
             seed: int) -> Description:
    """Describe the rows of ``frame`` (the confirm half) that ``members`` marks, against the rest of it."""
    members = np.asarray(members, bool)
    values = [(a, v) for a in attributes for v in sorted(frame[a].astype(str).unique())]
    adjusted = 1 - (1 - level) / max(len(values), 1)
    z = float(norm.ppf(1 - (1 - adjusted) / 2))
    ratios = []
    for attribute, value in values:
        has = (frame[attribute].astype(str) == value).to_numpy()
        cells = np.array([(members & has).sum(), (members & ~has).sum(), (~members & has).sum(),
                          (~members & ~has).sum()], np.float64)
        if (cells == 0).any():
            cells = cells + 0.5
        log_ratio = np.log(cells[0] * cells[3] / (cells[1] * cells[2]))
        spread = z * np.sqrt((1 / cells).sum())
        ratios.append(OddsRatio(attribute, value, int((members & has).sum()), int((~members & has).sum()),
                                float(np.exp(log_ratio)), float(np.exp(log_ratio - spread)),
                                float(np.exp(log_ratio + spread))))
    ratios.sort(key=lambda r: (-abs(np.log(r.odds_ratio)), r.attribute, r.value))
    return Description(int(members.sum()), float(members.mean()) if len(members) else 0.0, adjusted, tuple(ratios),
                       _examples(frame["id"].astype(str).to_numpy()[members], np.asarray(errors, bool)[members], seed))


def _examples(ids: np.ndarray, errors: np.ndarray, seed: int) -> tuple[str, ...]:
    key = f"examp{seed % 10**11:011d}"
    order = np.lexsort((pd.util.hash_array(ids.astype(object), hash_key=key), ~errors))
    return tuple(str(i) for i in ids[order][:EXAMPLES])


def describe_selected(found: Discovery, table: pd.DataFrame,
                      attributes: Sequence[str]) -> dict[EmbeddingCohort, Description]:
    """Each selected embedding cohort of ``found`` (a discovery of ``table``), described on the confirm half."""
    if found.rules is None or found.confirm_membership is None:
        return {}
    confirm = table.set_index(table["id"].astype(str)).loc[list(found.confirm_ids)].reset_index(drop=True)
    errors = (confirm["label"].astype(str) != confirm["pred"].astype(str)).to_numpy()
    chosen = {f.candidate.cohort for f in found.selected if isinstance(f.candidate.cohort, EmbeddingCohort)}
    return {cohort: describe(found.confirm_membership[:, c], confirm, attributes, errors, found.settings.level,
                             found.settings.seed)
            for c, cohort in enumerate(found.rules.cohorts) if cohort in chosen}
