"""The model card's "Cohorts" section: what cohort discovery found beyond the configured groups, and what it cannot see.

Built from the discover stage's typed record (``fairvision.discover.record``): one summary of the
search (cohorts considered, pairs tested, selected at q, whether the false-alarm gate opened, the
intervals' level); the selected cohorts that are findings of their own, each with its interval,
verdict and, when inconclusive, the minimum detectable gap; under each, the selected intersections
that only inherit its gap (reported as discoveries, they would send a reader after the wrong
cohort), and apart those inheriting from a cohort not selected itself. A cohort found in the
model's embeddings has no attribute to name it, so each selected one is described: its size, the
labelled groups it over- or under-represents (odds ratios whose adjusted interval excludes 1) and
a strip of example images with their Grad-CAM maps. With nothing selected, one
sentence names q, the false-alarm rate and the smallest cohort tested, so that silence is not read
as proof of fairness. Where the stage has not run, the section is ``run: false`` and how to run it.
"""

from __future__ import annotations

from typing import Any, Collection

from fairvision.audit.measures import COMPARISONS
from fairvision.discover.record import Cohorts, Described, Ratio, Tested
from fairvision.discover.settings import PROCEDURES
from fairvision.report import fmt

PROCEDURE_NAMES = {"bh": "Benjamini–Hochberg", "by": "Benjamini–Yekutieli"}
assert tuple(PROCEDURE_NAMES) == PROCEDURES, "one name per step-up procedure"


def cohorts_section(backbone: str, dataset: str, cohorts: Cohorts | None,
                    pictures: Collection[str] = ()) -> dict[str, Any]:
    """The section's dict for ``<B>.card.json`` and the page; ``reason`` alone where discovery has not run.
    ``pictures``: the embedding cohorts whose strip of examples the discover stage drew."""
    if cohorts is None:
        return {"run": False,
                "reason": f"No cohort discovery for this model yet: run `fairvision discover {backbone} --dataset "
                          f"{dataset}` (stage discover@{dataset}-{backbone}), then the report again."}
    own = [row for row in cohorts.selected if _parent(row) is None]
    inherited = [row for row in cohorts.selected if _parent(row) is not None]
    keys = {(row.cohort, row.metric) for row in own}
    return {
        "run": True,
        "reason": None,
        "attributes": list(cohorts.attributes),
        "favorable_label": cohorts.favorable_label,
        "cohorts_considered": cohorts.cohorts_considered,
        "tested": len(cohorts.tested),
        "selected": len(cohorts.selected),
        "fdr": cohorts.fdr,
        "procedure": cohorts.procedure,
        "false_alarm": cohorts.false_alarm,
        "gate_open": cohorts.gate_open,
        "interval_level": cohorts.interval_level,
        "false_coverage_rate": cohorts.false_coverage_rate,
        "min_cohort_size": dict(cohorts.min_cohort_size),
        "summary": _summary(cohorts),
        "none_selected": None if cohorts.selected else _silence(cohorts),
        "findings": [_finding(row) | {"inherited": [_finding(child) for child in inherited
                                                    if (_parent(child), child.metric) == (row.cohort, row.metric)]}
                     for row in own],
        "inherited_elsewhere": [_finding(row) for row in inherited if (_parent(row), row.metric) not in keys],
        "embeddings": _embeddings(cohorts, pictures),
    }


def _embeddings(cohorts: Cohorts, pictures: Collection[str]) -> dict[str, Any] | None:
    """How the embeddings were searched, and each selected embedding cohort described."""
    search = cohorts.embeddings
    if search is None:
        return None
    parts = [f"an error-aware mixture of {search.components} components"] if search.components else []
    parts += [f"the top {', '.join(fmt.pct(share, 0) for share in search.top)} along a failure direction"] \
        if search.top else []
    tested = sum(row.source in ("mixture", "direction") for row in cohorts.tested)
    summary = (f"In the model's penultimate-layer embeddings ({search.principal_components} principal components): "
               f"{' and '.join(parts) or 'no search'}, fitted on the explore half and frozen before the confirm "
               f"half; {tested} of the tested pairs were embedding cohorts, {len(search.described)} selected.")
    sources = {row.cohort: row.source for row in cohorts.tested}
    return {"summary": summary,
            "described": [_described(name, sources[name], described, name in pictures)
                          for name, described in search.described.items()]}


def _described(name: str, source: str, described: Described, picture: bool) -> dict[str, Any]:
    return {"cohort": name, "source": source, "size": described.size, "share": described.share,
            "level": described.level,
            "over": [_ratio(r) for r in described.notable if r.reading == "over"],
            "under": [_ratio(r) for r in described.notable if r.reading == "under"],
            "examples": list(described.examples), "picture": picture}


def _ratio(ratio: Ratio) -> dict[str, Any]:
    return {"attribute": ratio.attribute, "value": ratio.value, "in_cohort": ratio.in_cohort,
            "outside": ratio.outside, "odds_ratio": ratio.odds_ratio, "ci": [ratio.low, ratio.high]}


def _parent(row: Tested) -> str | None:
    assert row.judgement is not None, "only selected cohorts have a lineage"
    return row.judgement.inherited_from


def _finding(row: Tested) -> dict[str, Any]:
    """A selected cohort as the page shows it: its gap as an estimate (value and interval), verdict and lineage."""
    judged = row.judgement
    assert judged is not None, "only selected cohorts are on the card"
    return {"cohort": row.cohort, "metric": row.metric, "source": row.source, "n": row.n, "rate": row.rate, "rest_rate": row.rest_rate,
            "value": row.value, "ci": [judged.low, judged.high], "level": judged.level, "p_value": row.p_value,
            "verdict": judged.verdict, "explanation": judged.explanation,
            "minimum_detectable_gap": judged.minimum_detectable_gap, "inherited_from": judged.inherited_from}


def _summary(cohorts: Cohorts) -> str:
    """How far the search went and what it selected, in one sentence (and the intervals' level in a second)."""
    scan = ", and AIF360's MDSS subsets" if cohorts.mdss_subsets else ""
    if cohorts.false_alarm is None:
        gate = "no false-alarm gate"
    else:
        gate = (f"behind a false-alarm gate at {cohorts.false_alarm:g}, which "
                f"{'opened' if cohorts.gate_open else 'stayed shut'}")
    searched = (f"Searched {fmt.count(cohorts.cohorts_considered)} cohorts of "
                f"{', '.join(cohorts.attributes) or 'no attribute'} (up to {cohorts.max_order} attributes at a "
                f"time{scan}) on half of the test images ({fmt.count(cohorts.explore_rows)})")
    if not cohorts.tested:
        return f"{searched}; none was large enough to test on the other half ({fmt.count(cohorts.confirm_rows)})."
    text = (f"{searched}; tested the {len(cohorts.tested)} most promising (cohort, gap) pairs on the other half "
            f"({fmt.count(cohorts.confirm_rows)}); selected {len(cohorts.selected)} at q = {cohorts.fdr:g} "
            f"({PROCEDURE_NAMES[cohorts.procedure]}, {gate}).")
    if cohorts.interval_level is None:
        return text
    return (f"{text} Each selected cohort's interval is at {fmt.level(cohorts.interval_level)}, so that at most "
            f"{fmt.pct(cohorts.false_coverage_rate, 0)} of the selected intervals miss on average (false coverage "
            "rate).")


def _silence(cohorts: Cohorts) -> str:
    """What nothing selected means: what a fair model shows, and not proof of fairness (q, false alarms, sizes)."""
    if cohorts.false_alarm is None:
        alarm = f"with no false-alarm gate, up to q = {cohorts.fdr:g} of fair models get a report"
    else:
        alarm = (f"a model with no disparity at all gets a report at most {fmt.pct(cohorts.false_alarm, 0)} of the "
                 "time (the false-alarm gate)")
    sizes = ", ".join(f"{COMPARISONS[metric].title.lower()} {size}" for metric, size in cohorts.min_cohort_size.items())
    if not cohorts.tested:
        return (f"No cohort was tested, so none was selected: none had as many images of each half as the smallest "
                f"worth a test ({sizes or 'none'}, in the gap's denominator) and a gap in the harmful direction. "
                "This says nothing about fairness: more test images, or a lower `discover.min_cohort_size` (at a cost "
                "in power), let discovery look.")
    return (f"No cohort was selected at q = {cohorts.fdr:g}: {alarm}, so this is what a fair model shows. It is not "
            f"proof that no cohort is failed: cohorts with fewer images of either half than the smallest worth a "
            f"test ({sizes or 'none'}, in the gap's denominator) were never tested.")
