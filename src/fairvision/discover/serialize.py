"""A discovery as JSON (cohorts.json): one long table of candidates, the selected ones with interval and verdict.

One row per (cohort, gap) tested on the confirm half, in the order the explore half ranked
them, so a reader sees what was tested and not only what was found (the denominator of the
false discovery rate). Numbers are rounded as every fairvision JSON is (``statistics.number``).
An embedding cohort has no conditions; ``embeddings`` says how the rules were fitted and
describes each selected one (``describe``).
"""

from __future__ import annotations

from typing import Any, Mapping

from fairvision.discover.confirm import Finding
from fairvision.discover.describe import Description
from fairvision.discover.embedding import EmbeddingCohort
from fairvision.discover.engine import Discovery
from fairvision.discover.record import SCHEMA_VERSION
from fairvision.statistics import number


def to_json(found: Discovery, descriptions: Mapping[EmbeddingCohort, Description] | None = None) -> dict[str, Any]:
    """The whole run: how it searched, how it selected, and every candidate's row; ``descriptions`` of the
    selected embedding cohorts."""
    s = found.settings
    selection = found.confirmation.selection
    return {
        "schema_version": SCHEMA_VERSION,
        "attributes": list(found.attributes),
        "favorable_label": found.favorable,
        "split": {"seed": s.seed, "explore_rows": found.explore_rows, "confirm_rows": found.confirm_rows},
        "search": {"max_order": s.max_order, "cohorts_considered": found.search.cohorts_considered,
                   "eligible": found.search.eligible, "max_candidates": s.max_candidates,
                   "min_cohort_size": found.search.min_sizes,
                   "overall_rate": {m: number(r) for m, r in found.search.overall_rates.items()},
                   "mdss": {"subsets": s.mdss_subsets, "iterations": s.mdss_iterations, "penalty": s.mdss_penalty},
                   "embeddings": _embeddings(found, descriptions or {})},
        "selection": {"procedure": s.procedure, "fdr": s.fdr, "false_alarm": s.false_alarm,
                      "gate_open": selection.gate_open, "threshold": number(selection.threshold),
                      "candidates": len(found.findings), "selected": selection.count,
                      "interval_level": number(found.confirmation.level), "false_coverage_rate": number(1 - s.level)},
        "cohorts": [_row(f) for f in found.findings],
    }


def _row(f: Finding) -> dict[str, Any]:
    c = f.candidate
    row: dict[str, Any] = {
        "cohort": c.cohort.name, "conditions": {a: list(v) for a, v in c.cohort.conditions},
        "order": c.cohort.order, "source": c.source, "metric": c.metric, "explore_z": number(c.explore_z),
        "n": f.total, "events": f.events, "rest_n": f.rest_total, "rest_events": f.rest_events,
        "rate": number(f.rate), "rest_rate": number(f.rest_rate), "value": number(f.gap),
        "p_value": number(f.p_value), "selected": f.selected,
    }
    if f.selected:
        row.update({"level": number(f.level), "low": number(f.low), "high": number(f.high), "verdict": f.verdict,
                    "explanation": f.explanation, "minimum_detectable_gap": number(f.minimum_detectable_gap),
                    "lineage": "own" if f.lineage is None or f.lineage.own else "inherited",
                    "inherited_from": f.lineage.inherited_from.name if f.lineage and f.lineage.inherited_from else None,
                    "parents": {p.name: number(v) for p, v in f.lineage.parents.items()} if f.lineage else {}})
    return row


def _embeddings(found: Discovery, descriptions: Mapping[EmbeddingCohort, Description]) -> dict[str, Any] | None:
    """How the embedding rules were fitted, each of their cohorts' explore size, and the selected ones described."""
    rules, s = found.rules, found.settings
    if rules is None:
        return None
    return {
        "principal_components": rules.dimensions, "components": len(rules.weights),
        "error_weight": s.embedding_error_weight, "top": list(s.embedding_shares),
        "cohorts": [{"cohort": c.name, "source": c.method,
                     "confirm_n": int(found.confirm_membership[:, i].sum()) if found.confirm_membership is not None
                     else 0,
                     "description": _description(descriptions[c]) if c in descriptions else None}
                    for i, c in enumerate(rules.cohorts)],
    }


def _description(d: Description) -> dict[str, Any]:
    return {"size": d.size, "share": number(d.share), "level": number(d.level), "examples": list(d.examples),
            "odds_ratios": [{"attribute": r.attribute, "value": r.value, "in_cohort": r.in_cohort,
                             "outside": r.outside, "odds_ratio": number(r.odds_ratio), "low": number(r.low),
                             "high": number(r.high), "reading": r.reading} for r in d.odds_ratios]}
