"""The search, on the explore half only: labelled intersections up to order 3, MDSS's subsets and the embedding
cohorts (``embedding``), ranked.

Each (cohort, gap) pair is a hypothesis "the model fails this cohort more than the rest on
this gap". Pairs are eligible when the cohort's denominator reaches the power rule's size
(``power.minimum_cohort_size``) and the explore half shows the gap in the harmful direction
(a cohort better than its complement on explore would only dilute the confirm half's
step-up). Eligible pairs are ranked by the one-sided z of the gap on explore (pooled
variance), and the first ``max_candidates`` go to the confirm half. Cohorts with the same
rows on explore (an attribute that determines another, or an MDSS subset equal to an
intersection) are one candidate, named by its simplest description.

This module is given the explore half's cells (and the embedding cohorts' explore confusion
counts) and nothing else, so no candidate can depend on a confirm row (``tests/test_discover_search.py`` alters the confirm half to check).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Mapping

import numpy as np

from fairvision.discover.cohorts import CellTable, Cohort
from fairvision.discover.embedding import DIRECTION, MIXTURE, EmbeddingCohort
from fairvision.discover.mdss import mdss_cohorts
from fairvision.discover.metrics import GAPS
from fairvision.discover.power import minimum_cohort_size
from fairvision.discover.settings import Settings


# Embedding cohorts are tested on the error rate alone. The embeddings carry the model's own prediction (its logits
# are a linear function of them), so a region where it predicts the favourable label has a higher false positive
# and a lower false negative rate by construction: gaps conditioned on the true label would find the model's output,
# not a cohort. The error rate (wrong over all) has no such tie to the prediction.
EMBEDDING_GAP = "error_rate_difference"
EMBEDDING_SOURCES = (MIXTURE, DIRECTION)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A hypothesis kept for the confirm half, with its explore figures (never reported as results)."""

    cohort: Cohort | EmbeddingCohort
    metric: str
    source: str  # "intersection", "mdss", or the embedding search: "mixture", "direction"
    explore_events: int
    explore_total: int
    explore_z: float


@dataclasses.dataclass(frozen=True)
class Search:
    """What the explore half gave: the kept candidates, and what the search considered, for the record."""

    candidates: tuple[Candidate, ...]
    min_sizes: dict[str, int]  # per gap: the power rule's (or the set) minimum denominator
    overall_rates: dict[str, float]  # per gap, on explore
    cohorts_considered: int
    eligible: int


def search(cells: CellTable, favorable: str, settings: Settings,
           embedded: Mapping[EmbeddingCohort, np.ndarray] | None = None) -> Search:
    """Generate, screen and rank the candidates on the explore half's ``cells``, with the embedding cohorts of
    ``embedded`` (each cohort's explore confusion counts ``(K, K)``)."""
    per_cell = np.stack([GAPS[m].events_and_totals(cells.confusion, cells.labels, favorable) for m in settings.metrics],
                        axis=1)  # (F, G, 2)
    cohorts: list[Cohort | EmbeddingCohort]
    cohorts, sources, counts = labelled_intersections(cells, per_cell, settings.max_order)
    seen = {_membership(c, cells) for c in cohorts} if settings.mdss_subsets else set()
    for g, metric in enumerate(settings.metrics):
        found = mdss_cohorts(cells, per_cell[:, g], subsets=settings.mdss_subsets,
                             iterations=settings.mdss_iterations, penalty=settings.mdss_penalty)
        fresh = [c for c in found if _membership(c, cells) not in seen]
        seen.update(_membership(c, cells) for c in fresh)
        if fresh:
            cohorts += fresh
            sources += ["mdss"] * len(fresh)
            counts = np.concatenate([counts, cells.counts(fresh, per_cell)])
    if embedded:
        cohorts += list(embedded)
        sources += [c.method for c in embedded]
        counts = np.concatenate([counts, np.stack([
            np.stack([GAPS[m].events_and_totals(confusion, cells.labels, favorable) for m in settings.metrics])
            for confusion in embedded.values()])])
    embedded_rows = np.isin(np.asarray(sources), EMBEDDING_SOURCES)
    everything = per_cell.sum(axis=0)  # (G, 2)
    rows: list[tuple[float, Candidate]] = []
    min_sizes, rates = {}, {}
    for g, metric in enumerate(settings.metrics):
        total_events, total = (float(x) for x in everything[g])
        rate = total_events / total if total else math.nan
        rates[metric] = rate
        min_sizes[metric] = settings.min_cohort_size or _power_rule(metric, rate if total else 0.0, settings)
        if not 0 < rate < 1:
            continue  # no events (or nothing but events): no cohort can be worse than the rest
        events, totals = counts[:, g, 0].astype(np.float64), counts[:, g, 1].astype(np.float64)
        rest = total - totals
        eligible = (totals >= min_sizes[metric]) & (rest >= min_sizes[metric])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (events / totals - (total_events - events) / rest) / np.sqrt(rate * (1 - rate) * (1 / totals + 1 / rest))
        if metric != EMBEDDING_GAP:
            eligible &= ~embedded_rows
        for c in np.flatnonzero(eligible & (z > 0)):
            rows.append((float(z[c]), Candidate(cohorts[c], metric, sources[c], int(events[c]), int(totals[c]),
                                                float(z[c]))))
    rows.sort(key=lambda r: (-r[0], r[1].cohort.order, r[1].cohort.name, r[1].metric))
    kept = tuple(candidate for _, candidate in rows[:settings.max_candidates])
    return Search(kept, min_sizes, rates, len(cohorts), len(rows))


def labelled_intersections(cells: CellTable, per_cell: np.ndarray,
                           max_order: int) -> tuple[list[Cohort], list[str], np.ndarray]:
    """Every intersection of one value per attribute for up to ``max_order`` attributes present on ``cells``.

    Returns the cohorts (lower orders first; within one, the attributes' order, then values
    sorted), their source ("intersection") and their summed ``per_cell`` counts ``(C, ...)``;
    cohorts with the same cells as an earlier one are left out.
    """
    codes = np.stack([np.unique(cells.values[:, i], return_inverse=True)[1] for i in range(len(cells.attributes))],
                     axis=1) if len(cells.values) else np.zeros((0, len(cells.attributes)), np.int64)
    cohorts: list[Cohort] = []
    blocks: list[np.ndarray] = []
    seen: set[bytes] = set()
    for order in range(1, min(max_order, len(cells.attributes)) + 1):
        for chosen in itertools.combinations(range(len(cells.attributes)), order):
            radix = [int(codes[:, i].max()) + 1 for i in chosen] if len(codes) else [1] * order
            key = np.ravel_multi_index(tuple(codes[:, i] for i in chosen), radix)
            present, group = np.unique(key, return_inverse=True)
            sums = np.zeros((len(present), *per_cell.shape[1:]), dtype=per_cell.dtype)
            np.add.at(sums, group, per_cell)
            keep = []
            for g in range(len(present)):
                members = np.packbits(group == g).tobytes()
                if members in seen:
                    continue
                seen.add(members)
                first = int(np.flatnonzero(group == g)[0])
                cohorts.append(Cohort(tuple((cells.attributes[i], (str(cells.values[first, i]),)) for i in chosen)))
                keep.append(g)
            blocks.append(sums[keep])
    counts = np.concatenate(blocks) if blocks else np.zeros((0, *per_cell.shape[1:]), dtype=per_cell.dtype)
    return cohorts, ["intersection"] * len(cohorts), counts


def _power_rule(metric: str, rate: float, settings: Settings) -> int:
    """The power rule's size for ``metric``: a gap equal to its tolerance, at BH's level for a lone discovery."""
    tolerance = settings.bands[metric].high
    if tolerance <= 0:
        raise ValueError(f"the tolerance of {metric} is 0, so the power rule has no gap to size cohorts for: "
                         "set `discover.min_cohort_size` to a number")
    return minimum_cohort_size(rate, tolerance, settings.fdr / settings.max_candidates, settings.power)


def _membership(cohort: Cohort, cells: CellTable) -> bytes:
    return np.packbits(cohort.covers(cells)).tobytes()
