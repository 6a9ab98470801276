"""What the published verdicts are worth, measured on ground truth: coverage, false fails and detection.

Each scenario is a population shaped like the published demo (``simulate.demo_population``)
with a known truth. A run draws a fresh table from it, audits it with ``audit_table`` as
`fairvision audit` does (params.yaml's `audit` settings, a bootstrap seed of its own), and
holds every judged interval of every partition, outcome framing and side (against the
reference group, against the rest) against its true value (``simulate.true_comparisons``).
The data are fresh in every run, so nothing measured here is the bootstrap replicates that
set the simultaneous level: coverage is the intervals' claim tested on the population.

``criteria()`` are the claims the README makes, each a share over runs with its target;
``scripts/validate_audit.py`` measures them at scale into docs/audit-validation.json, and
``tests/test_validation.py`` re-measures them on other seeds and checks that file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from fairvision.audit.engine import AuditRun, GroupResult, Judged, Settings, audit_table
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.outcomes import CORRECT
from fairvision.audit.simulate import LABELS, Population, Truth, demo_population, true_comparisons
from fairvision.audit.verdicts import Band

# Bump when the way tables are drawn or truths are computed changes: the spec hash then
# changes, and docs/audit-validation.json must be measured again.
SIMULATOR_VERSION = 1
PROTECTED = ("race", "age")  # the demo's (params.yaml `datasets.synthetic`), `auto` references
INTERSECTIONS = (("race", "age"),)
FOCUS = "Latino_Hispanic"  # the group carrying each scenario's planted gap: the demo's planted group
TYPICAL = Truth(base_rate=0.5, true_positive_rate=0.85, false_positive_rate=0.05)  # error rate 0.1
# The published small_cnn audit's race rates (audits/synthetic/small_cnn/fairness.json), rounded:
# Latino_Hispanic never predicted Female (0 of 526), the planted bias.
PUBLISHED = {"White": (0.84, 0.03), "Black": (0.85, 0.06), "Latino_Hispanic": (0.0, 0.0), "East Asian": (0.82, 0.06),
             "Southeast Asian": (0.87, 0.08), "Indian": (0.85, 0.04), "Middle Eastern": (0.80, 0.09)}
# The modules whose code decides every interval and verdict measured: their hash, recorded beside the figures,
# says which engine they describe.
# The code that computes what the validation measures, relative to the fairvision package: the audit's
# engine and the core pieces it computes with (percentile intervals, group keys).
ENGINE_MODULES = ("audit/engine.py", "audit/intervals.py", "audit/measures.py", "audit/exact.py", "audit/bootstrap.py",
                  "audit/verdicts.py", "audit/outcomes.py", "audit/partitions.py", "audit/seeds.py", "statistics.py",
                  "groups.py")
EDGE = 1e-9  # a true value this close to an interval's bound or a band's edge (in tolerances) lies on it


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    population: Population


@dataclasses.dataclass(frozen=True)
class Criterion:
    """A claim: the share ``measure`` of ``scenario``'s runs compared with ``target`` (``at_least`` or at most)."""

    name: str
    scenario: str
    measure: str
    description: str
    target: float
    at_least: bool

    def met(self, value: float) -> bool:
        return bool(value >= self.target if self.at_least else value <= self.target)

    def judged(self, value: float, standard_error: float) -> str:
        """``met``; ``within error`` when short of the target by less than two Monte-Carlo standard errors
        (a share measured over finitely many runs scatters around its truth); else ``not met``. A target of
        0 or 1 (never, every time) allows no slack."""
        if self.met(value):
            return "met"
        exact = self.target in (0.0, 1.0)
        return "within error" if not exact and abs(value - self.target) < 2 * standard_error else "not met"


def shifted(truth: Truth, gap: float) -> Truth:
    """``truth`` with TPR lowered and FPR raised by ``gap``: the error rate rises by ``gap`` and, at a
    base rate of 0.5, the selection rate stays put (so statistical parity holds)."""
    return dataclasses.replace(truth, true_positive_rate=truth.true_positive_rate - gap,
                               false_positive_rate=truth.false_positive_rate + gap)


def scenarios(settings: Settings) -> dict[str, Scenario]:
    """The validation's populations; the planted gaps are multiples of the error-rate difference's tolerance."""
    tolerance = settings.bands["error_rate_difference"].high
    published = {race: Truth(0.5, tpr, fpr) for race, (tpr, fpr) in PUBLISHED.items()}
    listed = [
        Scenario("no_bias", "every race × age cell alike (base rate 0.5, TPR 0.85, FPR 0.05: error rate 0.1)",
                 demo_population(TYPICAL)),
        Scenario("published", "each race at the published small_cnn audit's TPR and FPR (rounded), "
                              f"{FOCUS} never predicted favourable: a zero-event group, selection-rate gap ≈ 0.45",
                 demo_population(TYPICAL, published)),
        Scenario("gap_at_tolerance", f"as no_bias, but {FOCUS}'s error rate is higher by the tolerance "
                                     f"({tolerance:g}: TPR − {tolerance:g}, FPR + {tolerance:g})",
                 demo_population(TYPICAL, {FOCUS: shifted(TYPICAL, tolerance)})),
        Scenario("gap_twice_tolerance", f"1,000 images per race (the demo's age mix), {FOCUS}'s error rate "
                                        f"higher by twice the tolerance ({2 * tolerance:g})",
                 demo_population(TYPICAL, {FOCUS: shifted(TYPICAL, 2 * tolerance)}, images_per_race=1000)),
    ]
    return {scenario.name: scenario for scenario in listed}


def criteria(level: float) -> tuple[Criterion, ...]:
    """The README's claims, with targets: coverage within a point of ``level``, false fails at most the
    nominal share, detection at least 1 - nominal, and a zero-event gap failed every time."""
    nominal = round(1 - level, 10)
    coverage = round(level - 0.01, 10)
    found: list[Criterion] = []
    for scenario in ("no_bias", "published", "gap_at_tolerance", "gap_twice_tolerance"):
        found += [
            Criterion(f"coverage.{scenario}", scenario, "coverage",
                      "share of judged intervals containing the true value", coverage, True),
            Criterion(f"joint_coverage.{scenario}", scenario, "joint_coverage",
                      "share of tables (partition × framing × side) whose every judged interval contains its truth",
                      coverage, True),
        ]
    return (*found,
            Criterion("false_fail.no_bias", "no_bias", "any_fail",
                      "share of whole audits (every partition, framing and side) with any `fail`", nominal, False),
            Criterion("fail_at_tolerance", "gap_at_tolerance", "fail_at_edge",
                      "share `fail` among comparisons whose true value lies on the tolerance's edge", nominal, False),
            Criterion("detection_twice_tolerance", "gap_twice_tolerance", "detected",
                      f"share `fail` among {FOCUS}'s comparisons in the race partition whose true value lies "
                      "twice the tolerance or more from parity", round(1 - nominal, 10), True),
            Criterion("zero_event_fail", "published", "zero_event_fail",
                      f"share `fail` of {FOCUS}'s statistical parity difference (0 of 526 predicted favourable) "
                      "in the race partition, against the reference and the rest", 1.0, True))


def spec(settings: Settings) -> dict[str, Any]:
    """Everything the measured figures depend on besides the seeds, as JSON: its hash pins the published run."""
    judged = dataclasses.asdict(dataclasses.replace(settings, seed=0))
    judged.pop("seed")
    return {
        "simulator_version": SIMULATOR_VERSION,
        "labels": list(LABELS), "protected": list(PROTECTED), "intersections": [list(i) for i in INTERSECTIONS],
        "settings": judged,
        "scenarios": {name: {"description": s.description, "population": s.population.spec()}
                      for name, s in scenarios(settings).items()},
        "criteria": [dataclasses.asdict(c) for c in criteria(settings.level)],
    }


def spec_hash(settings: Settings) -> str:
    """SHA-256 of ``spec`` in canonical JSON."""
    text = json.dumps(spec(settings), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def engine_hash() -> str:
    """SHA-256 of the source of ``ENGINE_MODULES`` (as on disk: call it before a change can land mid-run)."""
    digest = hashlib.sha256()
    for name in ENGINE_MODULES:
        digest.update(name.encode("ascii") + b"\0" + (Path(__file__).parents[1] / name).read_bytes())
    return digest.hexdigest()


Tally = dict[str, list[int]]  # measure -> [hits, trials] of one run


def audit_scenario(scenario: Scenario, settings: Settings, seed: Sequence[int], *,
                   protected: Sequence[str] = PROTECTED,
                   intersections: Sequence[Sequence[str]] = INTERSECTIONS) -> tuple[AuditRun, Tally, Counter]:
    """One run: a fresh table from ``seed``, audited, and its tally; also covered / judged counts per metric.

    ``protected`` and ``intersections`` narrow the audit (the tests' cheap runs audit race alone).
    """
    sequence = np.random.SeedSequence(list(seed))
    table_seed, bootstrap_seed = sequence.spawn(2)
    population = scenario.population
    run = audit_table(population.draw(table_seed), population.train(), LABELS, LABELS[0], protected, intersections,
                      {}, dataclasses.replace(settings, seed=int(bootstrap_seed.generate_state(1)[0])))
    return (run, *tally(run, population, settings))


def tally(run: AuditRun, population: Population, settings: Settings) -> tuple[Tally, Counter]:
    """Every measure of one audited run against the population's truth."""
    counts: Tally = defaultdict(lambda: [0, 0])
    by_metric: Counter = Counter()
    any_fail = False
    for partition, result in zip(run.partitions, run.results):
        for outcome in run.outcomes:
            truths = true_comparisons(population, partition.attributes, outcome, result.reference)
            groups = result.outcomes[outcome.name].groups
            for against, truth_of in truths.items():
                covered_all, judged_any = True, False
                for name, group in groups.items():
                    for metric, judged in group.comparisons.get(against, {}).items():
                        any_fail |= judged.verdict == "fail"
                        truth = truth_of[name][metric]
                        if not (_judged(group, against, judged) and math.isfinite(truth)):
                            continue
                        covered = judged.low - EDGE <= truth <= judged.high + EDGE
                        judged_any, covered_all = True, covered_all and covered
                        _add(counts, "coverage", covered)
                        by_metric[metric, "judged"] += 1
                        by_metric[metric, "covered"] += covered
                        fail = judged.verdict == "fail"
                        multiple = tolerances_from_parity(metric, truth, settings.bands[metric])
                        if abs(multiple - 1) < EDGE:
                            _add(counts, "fail_at_edge", fail)
                        if partition.attributes == ("race",) and name == FOCUS:
                            if multiple >= 2 - EDGE:
                                _add(counts, "detected", fail)
                            if (metric == "statistical_parity_difference" and outcome.name != CORRECT
                                    and group.rates["selection_rate"].value == 0):
                                _add(counts, "zero_event_fail", fail)
                if judged_any:
                    _add(counts, "joint_coverage", covered_all)
    _add(counts, "any_fail", any_fail)
    return dict(counts), by_metric


def _add(counts: Tally, measure: str, hit: bool) -> None:
    counts[measure][0] += int(hit)
    counts[measure][1] += 1


def _judged(group: GroupResult, against: str, judged: Judged) -> bool:
    """Whether the verdict came from the interval: the group large enough, the value defined and defined in
    nearly every replicate (the engine words every other case "Not judged: …")."""
    return (group.status.get(against) != "insufficient_data" and judged.undefined is None
            and math.isfinite(judged.low) and math.isfinite(judged.high)
            and not judged.explanation.startswith("Not judged"))


def tolerances_from_parity(metric: str, value: float, band: Band) -> float:
    """How far ``value`` lies from parity, in units of the band's half-width on that side (log scale for
    ratios): 1 on the band's edge, 2 at twice the tolerance."""
    parity = COMPARISONS[metric].parity
    low, high = band.low, band.high
    if COMPARISONS[metric].kind == "ratio":
        with np.errstate(divide="ignore"):
            value, low, high = (float(np.log(x)) for x in (value, low, high))
        parity = 0.0
    return (value - parity) / (high - parity) if value >= parity else (parity - value) / (parity - low)


@dataclasses.dataclass(frozen=True)
class Share:
    """A share over runs and its Monte-Carlo standard error (runs are the independent units)."""

    value: float
    standard_error: float
    hits: int
    trials: int
    runs: int


def share(tallies: Iterable[Tally], measure: str) -> Share:
    """Pooled share of ``measure`` over runs; its standard error is the ratio estimator's, clustered by run
    (the comparisons of one run share its table, so they are not independent trials)."""
    pairs = np.array([t.get(measure, [0, 0]) for t in tallies], dtype=np.float64).reshape(-1, 2)
    hits, trials = pairs.sum(axis=0)
    runs = len(pairs)
    if trials == 0:
        return Share(math.nan, math.nan, 0, 0, runs)
    value = float(hits / trials)
    if runs < 2:
        return Share(value, math.nan, int(hits), int(trials), runs)
    mean_trials = trials / runs
    residual = pairs[:, 0] - value * pairs[:, 1]
    error = math.sqrt(float((residual ** 2).sum()) / (runs * (runs - 1))) / float(mean_trials)
    return Share(value, error, int(hits), int(trials), runs)


def coverage_by_metric(counts: Mapping[tuple[str, str], int]) -> dict[str, float]:
    """Share of each metric's judged intervals that contain the truth."""
    return {metric: counts[metric, "covered"] / counts[metric, "judged"]
            for metric in COMPARISONS if counts[metric, "judged"]}
