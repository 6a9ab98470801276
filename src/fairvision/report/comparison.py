"""What the comparison page needs to choose a backbone: the accuracy–fairness front and the effect of mitigation.

**The front.** Each backbone is a point per headline metric: overall accuracy (Wilson interval over the test
images) against its worst group's distance from parity (|d| for a difference, |ln r| for a ratio: the gate's
scale), with that comparison's interval mapped onto the same scale. A backbone is on the Pareto front when no
other is at least as accurate and at least as close to parity, and better in one.

**The effect of mitigation.** `<arch>+<variant>` trains `<arch>` another way (e.g. with Reweighing) and predicts
the same test images, so the two prediction tables are compared exactly as `fairvision check` compares a change
(``check.compare_paired``: the joint, group-stratified bootstrap of the shared images, intervals simultaneous
over each table): Δ is the change of a group's distance from parity, negative when the variant is fairer. Shown
for the groups either side fails against the reference group, in the headline outcome, on its key metrics.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Mapping, Sequence

from fairvision.audit.baseline import baseline_audit
from fairvision.audit.check import compare_paired
from fairvision.audit.gate import CheckSettings
from fairvision.audit.measures import COMPARISONS
from fairvision.params import Audit

Z95 = 1.959964  # the Wilson interval's normal quantile: a 95 % interval for overall accuracy
VARIANT = "+"  # `<arch>+<variant>` (backbones.py)


@dataclasses.dataclass(frozen=True)
class Point:
    """One backbone on one metric's accuracy–fairness plane."""

    backbone: str
    accuracy: float
    accuracy_ci: tuple[float, float]
    gap: float  # the worst group's distance from parity
    gap_ci: tuple[float, float]
    group: str  # "<group> (<partition>)", the worst one
    on_front: bool


@dataclasses.dataclass(frozen=True)
class Effect:
    """How a variant changed one group's distance from parity on one metric, with its paired interval."""

    partition: str
    group: str
    metric: str
    delta: float
    low: float
    high: float

    @property
    def words(self) -> str:
        if self.delta == self.low == self.high == 0:
            return "no prediction in the comparison changed"
        if self.high < 0:
            return "fairer: the gap shrank"
        if self.low > 0:
            return "less fair: the gap grew"
        return "no measurable effect"


@dataclasses.dataclass(frozen=True)
class Mitigation:
    arch: str
    variant: str  # the `<arch>+<variant>` backbone
    effects: tuple[Effect, ...]  # empty: no group fails on either side


def front(cards: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Point]]:
    """Headline metric -> each backbone's point, for the cards that measured group fairness."""
    measured = {name: card for name, card in cards.items() if card["verdict"]["group_fairness"]["measured"]}
    if not measured:
        return {}
    metrics = next(iter(measured.values()))["quantitative_analyses"]["key_metrics"]
    planes: dict[str, list[Point]] = {}
    for metric in metrics:
        raw = [_point(name, card, metric) for name, card in measured.items()]
        points = [p for p in raw if p is not None]
        planes[metric] = [dataclasses.replace(p, on_front=not any(_dominates(q, p) for q in points))
                          for p in points]
    return planes


def effect_settings(audit: Audit) -> CheckSettings:
    """The paired comparison's settings from params.yaml `audit` alone: its bootstrap, group size and family-wise
    method. The gate's margins and training-noise allowances judge a change, which an effect is not, so the
    report depends on no `check` key."""
    return CheckSettings(difference_margin=0.0, ratio_margin=0.0, min_group_size=audit.min_group_size,
                         resamples=audit.bootstrap.resamples, seed=audit.bootstrap.seed, level=audit.bootstrap.level,
                         multiple_comparisons=audit.multiple_comparisons)  # type: ignore[arg-type]  # validated


def mitigations(audits_dir: str | os.PathLike[str], cards: Mapping[str, Mapping[str, Any]],
                settings: CheckSettings) -> list[Mitigation]:
    """Each `<arch>+<variant>` backbone beside its `<arch>`, both audited in ``audits_dir`` (<B>/fairness.json and
    its predictions): the paired effects."""
    found = []
    for variant, card in cards.items():
        arch = variant.split(VARIANT, 1)[0]
        if variant == arch or arch not in cards or not card["verdict"]["group_fairness"]["measured"]:
            continue
        headline = card["verdict"]["headline_outcome"]
        metrics = set(card["quantitative_analyses"]["key_metrics"])
        failing = _failing(cards[arch], headline) | _failing(card, headline)
        findings = compare_paired(baseline_audit(str(audits_dir), arch), baseline_audit(str(audits_dir), variant),
                                  settings) if failing else []
        effects = tuple(Effect(f.partition, f.group, f.metric, f.delta, f.low, f.high) for f in findings
                        if f.outcome == headline and f.metric in metrics and (f.partition, f.group) in failing
                        and f.change != "not_judged")
        found.append(Mitigation(arch, variant, effects))
    return found


def _failing(card: Mapping[str, Any], outcome: str) -> set[tuple[str, str]]:
    return {(partition, group) for partition, groups in card["verdict"]["failing"].items()
            for group, tables in groups.items() if "reference" in tables.get(outcome, [])}


def _point(backbone: str, card: Mapping[str, Any], metric: str) -> Point | None:
    analyses = card["quantitative_analyses"]
    worst: tuple[float, tuple[float, float], str] | None = None
    for partition, entry in analyses["partitions"].items():
        for group, row in entry["outcomes"][analyses["headline_outcome"]]["groups"].items():
            judged = (row.get("vs_reference") or {}).get(metric)
            if not judged or judged["value"] is None or judged["ci"] is None:
                continue
            distance, interval = _distance(metric, judged["value"]), _distance_interval(metric, *judged["ci"])
            if worst is None or distance > worst[0]:
                worst = (distance, interval, f"{group} ({partition})")
    if worst is None:
        return None
    return Point(backbone, analyses["overall_accuracy"], wilson(analyses["overall_accuracy"], analyses["n"]),
                 worst[0], worst[1], worst[2], on_front=False)


def _distance(metric: str, value: float) -> float:
    if COMPARISONS[metric].kind == "ratio":
        return math.inf if value <= 0 else abs(math.log(value))
    return abs(value)


def _distance_interval(metric: str, low: float, high: float) -> tuple[float, float]:
    """An interval of a metric as an interval of its distance from parity: 0 at the near end when it straddles
    parity."""
    if COMPARISONS[metric].kind == "ratio":
        low, high = (math.log(v) if v > 0 else -math.inf for v in (low, high))
    ends = sorted((abs(low), abs(high)))
    return (0.0 if low <= 0 <= high else ends[0], ends[1])


def wilson(share: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``share`` of ``n``."""
    if n <= 0:
        return (math.nan, math.nan)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def _dominates(a: Point, b: Point) -> bool:
    return a.accuracy >= b.accuracy and a.gap <= b.gap and (a.accuracy > b.accuracy or a.gap < b.gap)
