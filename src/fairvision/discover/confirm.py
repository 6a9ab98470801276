"""The confirm half's verdict on every candidate: exact p-values, the gated step-up, FCR intervals, verdicts.

Everything reported is computed here, from rows the search never saw. Each candidate's gap
to its complement gets a one-sided exact p-value (``fisher``); the gated step-up selects
(``stepup.select``); each selected one gets Newcombe's interval at the FCR-adjusted level
1 − R (1 − level) / m (``intervals``, ``stepup.fcr_level``), the audit's verdict against the audit's
tolerance band (``audit.verdicts``), the minimum detectable gap when inconclusive
(``power``), and its lineage (own finding or inherited from a parent, ``lineage``: a
second step-up over the selected intersections).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np

from fairvision.audit.verdicts import verdict
from fairvision.discover.candidates import Candidate
from fairvision.discover.cohorts import CellTable
from fairvision.discover.embedding import EmbeddingCohort
from fairvision.discover.fisher import greater_p_values
from fairvision.discover.intervals import newcombe
from fairvision.discover.lineage import Lineage, own_findings, parents_test
from fairvision.discover.metrics import GAPS
from fairvision.discover.power import minimum_detectable_gap
from fairvision.discover.settings import Settings
from fairvision.discover.stepup import Selection, fcr_level, select


@dataclasses.dataclass(frozen=True)
class Finding:
    """One candidate judged on the confirm half; the interval, verdict and lineage only when ``selected``."""

    candidate: Candidate
    events: int
    total: int
    rest_events: int
    rest_total: int
    p_value: float
    selected: bool
    level: float = math.nan
    low: float = math.nan
    high: float = math.nan
    verdict: str | None = None
    explanation: str | None = None
    minimum_detectable_gap: float | None = None
    lineage: Lineage | None = None

    @property
    def rate(self) -> float:
        return self.events / self.total if self.total else math.nan

    @property
    def rest_rate(self) -> float:
        return self.rest_events / self.rest_total if self.rest_total else math.nan

    @property
    def gap(self) -> float:
        return self.rate - self.rest_rate


@dataclasses.dataclass(frozen=True)
class Confirmation:
    findings: tuple[Finding, ...]
    selection: Selection
    level: float | None  # the FCR-adjusted level of the selected intervals; None when nothing was selected


def confirm(candidates: Sequence[Candidate], cells: CellTable, favorable: str, settings: Settings,
            embedded: Mapping[EmbeddingCohort, np.ndarray] | None = None) -> Confirmation:
    """Judge every candidate on the confirm half's ``cells``; an embedding cohort by its confirm confusion counts
    in ``embedded`` (its frozen rule applied to the confirm rows)."""
    per_metric = {m: GAPS[m].events_and_totals(cells.confusion, cells.labels, favorable) for m in settings.metrics}

    def counts_of(candidate: Candidate) -> np.ndarray:
        if isinstance(candidate.cohort, EmbeddingCohort):
            return GAPS[candidate.metric].events_and_totals((embedded or {})[candidate.cohort], cells.labels,
                                                            favorable)
        return cells.counts([candidate.cohort], per_metric[candidate.metric])[0]

    counts = np.array([counts_of(c) for c in candidates], dtype=np.int64).reshape(-1, 2)
    everything = np.array([per_metric[c.metric].sum(axis=0) for c in candidates], dtype=np.int64).reshape(-1, 2)
    p = greater_p_values(counts[:, 0], counts[:, 1], everything[:, 0], everything[:, 1])
    selection = select(p, settings.fdr, settings.procedure, settings.false_alarm)
    level = fcr_level(selection.count, len(candidates), 1 - settings.level) if selection.count else None
    findings = []
    for c, candidate in enumerate(candidates):
        events, total = (int(x) for x in counts[c])
        rest_events, rest_total = (int(x) for x in everything[c] - counts[c])
        base = Finding(candidate, events, total, rest_events, rest_total, float(p[c]), bool(selection.rejected[c]))
        if base.selected and level is not None:
            base = _judged(base, level, settings)
            base = dataclasses.replace(base, lineage=parents_test(candidate.cohort, cells, per_metric[candidate.metric]))
        findings.append(base)
    chosen = [i for i, f in enumerate(findings) if f.lineage is not None]
    decided = own_findings([findings[i].lineage for i in chosen], settings.fdr, settings.procedure)
    for i, judged in zip(chosen, decided):
        findings[i] = dataclasses.replace(findings[i], lineage=judged)
    return Confirmation(tuple(findings), selection, level)


def _judged(finding: Finding, level: float, settings: Settings) -> Finding:
    metric = finding.candidate.metric
    gap, low, high = newcombe(finding.events, finding.total, finding.rest_events, finding.rest_total, level)
    judged, explanation = verdict(metric, gap, low, high, settings.bands[metric], level)
    detectable = None
    if judged == "inconclusive":
        pooled = (finding.events + finding.rest_events) / (finding.total + finding.rest_total)
        detectable = minimum_detectable_gap(pooled, finding.total, finding.rest_total, level, settings.power)
    return dataclasses.replace(finding, level=level, low=low, high=high, verdict=judged, explanation=explanation,
                               minimum_detectable_gap=detectable)
