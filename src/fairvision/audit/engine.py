"""The audit of one partition: every group's rates, every comparison, intervals and verdicts.

One object per partition (an attribute or an intersection) computed once, fairlearn's
MetricFrame style: each outcome framing holds per-group rates with intervals, and each
group's comparisons against the reference group and against the rest of the population,
each with its point value (AIF360's definition), its interval (group-stratified bootstrap,
the level made simultaneous over the table) and its verdict. ``fairness.json`` is its
serialization (``fairvision.audit.serialize``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fairvision.audit.bootstrap import available_cores, coarsen, generator, seeds_resample, stratified_resample
from fairvision.audit.exact import exact_rate_interval
from fairvision.audit.intervals import BLOCK_BYTES, FamilyIntervals, Level, Method, resamples_for
from fairvision.audit.measures import (
    CELLS, COMPARISONS, RATES, between_group_theil_index, compare, event, fewest_events, group_rates,
    sparse_reason, sparse_shifts, theil_index, undefined_reason,
)
from fairvision.audit.outcomes import Outcome, outcomes_for
from fairvision.audit.partitions import (
    Partition, build_partition, category_codes, count_cells, label_codes, ordered_groups,
)
from fairvision.audit.seeds import seed_half_width, widen
from fairvision.audit.verdicts import Band, verdict
from fairvision.audit.vocabulary import AGAINST, SEPARATOR, Status, Verdict, partition_name, worst
from fairvision.groups import group_keys
from fairvision.statistics import percentile_intervals

# A comparison whose replicates are undefined more often than this is not judged: its
# interval would describe only the lucky resamples (e.g. a group with a handful of positives).
MAX_UNDEFINED_SHARE = 0.01
# The most replicates one draw may hold: (R, finest groups, K, K) counts must fit in memory.
MAX_RESAMPLES = 100_000
_OTHER = {"reference": "the reference group", "rest": "the rest"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to judge: from params.yaml `audit` (see params.Audit)."""

    min_group_size: int
    resamples: int  # at least this many replicates; more where a family needs them (intervals.resamples_for)
    seed: int
    level: float
    multiple_comparisons: Method
    bands: Mapping[str, Band]
    min_events: int = 5  # fewest events and non-events behind a rate for a comparison to be certified `pass`
    max_resamples: int = MAX_RESAMPLES


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point value with its interval; NaN where undefined."""

    value: float
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class Judged(Estimate):
    """A comparison's estimate, its verdict and why; ``undefined`` says why the value is missing (then NaN).

    ``aif360_value`` is AIF360's number, which is a conventional 0 or 1 where the metric is
    undefined: kept for the cross-check, never published as the value.
    """

    verdict: Verdict
    explanation: str
    undefined: str | None
    aif360_value: float


@dataclasses.dataclass(frozen=True)
class GroupResult:
    group: str
    n: int
    rates: Mapping[str, Estimate]
    status: Mapping[str, Status]  # against -> status
    comparisons: Mapping[str, Mapping[str, Judged]]  # against -> metric -> result


@dataclasses.dataclass(frozen=True)
class OutcomeResult:
    outcome: Outcome
    groups: Mapping[str, GroupResult]
    levels: Mapping[str, Level]  # against -> per-interval level making the table's intervals simultaneous
    theil_index: Estimate
    between_group_theil_index: Estimate


@dataclasses.dataclass(frozen=True)
class PartitionResult:
    name: str
    attributes: tuple[str, ...]
    reference: str
    reference_reason: str
    train_sizes: Mapping[str, int]
    outcomes: Mapping[str, OutcomeResult]


@dataclasses.dataclass(frozen=True)
class AuditRun:
    """The audit of a whole prediction table: its outcome framings and one result per partition."""

    outcomes: tuple[Outcome, ...]
    partitions: tuple[Partition, ...]
    results: tuple[PartitionResult, ...]
    finest: FinestDraw


def resolve_reference(setting: str, name: str, train_sizes: Mapping[str, int],
                      key: str = "reference") -> tuple[str, str]:
    """The reference group and why it was chosen; ``auto`` = the largest group in train (ties: natural order).

    ``key`` is the params.yaml mapping the setting came from (e.g. ``datasets.synthetic.reference``).
    """
    if setting != "auto":
        return setting, f"set in params.yaml (`{key}.{name}`)"
    if not any(train_sizes.values()):
        raise ValueError(f"`{key}.{name}` is auto, but train has no rows to pick the largest group")
    largest = max(train_sizes.values())
    chosen = next(group for group, n in train_sizes.items() if n == largest)
    return chosen, f"largest {name} group in train ({largest} images); `auto` in params.yaml"


def finest_attributes(protected: Sequence[str], intersections: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The attributes whose intersection is finer than every partition audited: the bootstrap's strata."""
    attributes = list(protected)
    for intersection in intersections:
        attributes += [a for a in intersection if a not in attributes]
    return tuple(attributes)


def audit_table(
    predictions: pd.DataFrame | Sequence[pd.DataFrame],
    train: pd.DataFrame,
    labels: Sequence[str],
    favorable: str,
    protected: Sequence[str],
    intersections: Sequence[Sequence[str]],
    references: Mapping[str, str],
    settings: Settings,
    reference_key: str = "reference",
) -> AuditRun:
    """Audit every protected attribute and intersection of ``predictions`` (``train`` gives groups and references).

    ``predictions`` is one model's table, or one per training seed: the same rows (images,
    labels, groups) in the same order, predicted by each seed's model. Several seeds are
    audited as one procedure: every count is the seeds' mean, the replicates resample the
    images (``bootstrap.seeds_resample``), and each rate's and comparison's interval adds the
    spread of the seeds' own values (``audit.seeds``), so it holds both the test set's
    sampling and the training's randomness.

    One bootstrap draw at the finest groups (``finest_attributes``) serves every partition
    (``bootstrap.coarsen``), sized for the largest family (``intervals.resamples_for``); a
    partition with a smaller family uses the leading replicates it needs.
    ``reference_key`` is where ``references`` live in params.yaml, for error messages.

    Raises ValueError, worded for the user, for labels the model does not know or a reference
    group that does not exist.
    """
    tables = [predictions] if isinstance(predictions, pd.DataFrame) else list(predictions)
    first = tables[0]
    outcomes = outcomes_for(labels, favorable)
    truth = label_codes(first, labels, ("label",))[0]
    predicted = [label_codes(table, labels, ("pred",))[0] for table in tables]
    finest = draw_finest(first, labels, finest_attributes(protected, intersections), truth, predicted, settings,
                         outcomes, sizing=[(a,) for a in protected] + [tuple(i) for i in intersections])
    partitions, results = [], []
    for attributes in [(attribute,) for attribute in protected] + [tuple(i) for i in intersections]:
        name = partition_name(attributes)
        counted = group_keys(train, attributes).value_counts().to_dict()
        partition = seeds_partition(first, attributes, labels, counted, truth, predicted)
        train_sizes = {group: int(counted.get(group, 0)) for group in partition.groups}
        reference, reason = resolve_reference(references.get(name, "auto"), name, train_sizes, reference_key)
        try:
            resamples = resamples_for(largest_family(partition, outcomes, settings), settings.level,
                                      settings.resamples, settings.max_resamples)
            results.append(audit_partition(partition, outcomes, reference, reason, train_sizes, settings,
                                           replicates=finest.replicates_of(partition, resamples)))
        except ValueError as error:
            raise ValueError(f"`{reference_key}.{name}` in params.yaml: {error}") from None
        partitions.append(partition)
    return AuditRun(outcomes, tuple(partitions), tuple(results), finest)


def seeds_partition(predictions: pd.DataFrame, attributes: Sequence[str], labels: Sequence[str],
                    known_groups: Iterable[str], truth: np.ndarray, predicted: Sequence[np.ndarray]) -> Partition:
    """``build_partition`` of one seed's predictions, or of several seeds' as the mean of their counts."""
    built = [build_partition(predictions, attributes, labels, known_groups, codes=(truth, p)) for p in predicted]
    if len(built) == 1:
        return built[0]
    seed_counts = np.stack([b.counts for b in built])
    return dataclasses.replace(built[0], counts=seed_counts.mean(axis=0), seed_counts=seed_counts)


@dataclasses.dataclass(frozen=True)
class FinestDraw:
    """The bootstrap replicates of the finest groups, from which every partition's replicates are summed."""

    attributes: tuple[str, ...]
    groups: tuple[str, ...]
    counts: np.ndarray  # (F, K, K)
    replicates: np.ndarray  # (R, F, K, K)

    def replicates_of(self, partition: Partition, resamples: int) -> np.ndarray:
        """``partition``'s first ``resamples`` replicates ``(R, G, K, K)``: each finest group summed into its group.

        A partition whose family is smaller than the largest needs fewer replicates; the same
        leading ones serve it, so every partition still rests on the same resampled rows.
        """
        positions = [self.attributes.index(a) for a in partition.attributes]
        index = {group: g for g, group in enumerate(partition.groups)}
        membership = np.array([index[SEPARATOR.join(group.split(SEPARATOR)[p] for p in positions)]
                               for group in self.groups], dtype=np.int64)
        return coarsen(self.replicates[:resamples], membership, len(partition.groups))

    @property
    def pooled(self) -> np.ndarray:
        """Every replicate's whole-table confusion counts ``(R, K, K)``."""
        return self.replicates.sum(axis=1)


def draw_finest(
    predictions: pd.DataFrame, labels: Sequence[str], attributes: Sequence[str], truth: np.ndarray,
    predicted: Sequence[np.ndarray], settings: Settings, outcomes: Sequence[Outcome],
    sizing: Sequence[Sequence[str]] = (),
) -> FinestDraw:
    """Draw the finest groups' replicates once, as many as the largest family among ``sizing``'s partitions needs.

    ``predicted``: one array of predicted label codes per seed (one seed: the group-stratified
    bootstrap; several: the images resampled, the same for every seed, counts the seeds' mean).
    """
    attributes = tuple(attributes)
    if attributes:
        keys = group_keys(predictions, attributes)
        groups = ordered_groups(attributes, keys.unique())  # the finest partition's order: summed by identity
        group_codes = category_codes(keys, groups)
    else:
        groups, group_codes = ("all",), np.zeros(len(predictions), dtype=np.int64)
    per_seed = [count_cells(group_codes, [truth, p], len(groups), len(labels)) for p in predicted]
    counts = per_seed[0] if len(per_seed) == 1 else np.mean(per_seed, axis=0)
    family = max([largest_family(build_partition(predictions, p, labels, codes=(truth, predicted[0])), outcomes,
                                 settings) for p in sizing] or [1])
    resamples = resamples_for(family, settings.level, settings.resamples, settings.max_resamples)
    if len(predicted) == 1:
        replicates = stratified_resample(counts, resamples, generator(settings.seed, "finest"))
    else:
        replicates = seeds_resample(group_codes, truth, [np.stack(predicted)], len(groups), len(labels), resamples,
                                    generator(settings.seed, "finest", "seeds"))[0]
    return FinestDraw(attributes, groups, counts, replicates)


def largest_family(partition: Partition, outcomes: Sequence[Outcome], settings: Settings) -> int:
    """The most intervals any one table of ``partition`` judges together (before undefined ones drop out)."""
    if settings.multiple_comparisons == "none":
        return 1
    sizes = partition.sizes
    largest = 0
    for outcome in outcomes:
        events = len({event(m, correct=outcome.label is None) for m in outcome.metrics})
        for against in AGAINST:
            others = (np.full(len(sizes), sizes.max()) if against == "reference" else sizes.sum() - sizes)
            judged = int(((sizes >= settings.min_group_size) & (others >= settings.min_group_size)).sum())
            largest = max(largest, judged * events)
    return largest


def audit_partition(
    partition: Partition,
    outcomes: Sequence[Outcome],
    reference: str,
    reference_reason: str,
    train_sizes: Mapping[str, int],
    settings: Settings,
    *,
    replicates: np.ndarray | None = None,
) -> PartitionResult:
    """Audit every outcome framing of one partition; raises ValueError if ``reference`` is not a group.

    ``replicates`` (``(R, G, K, K)``) come from the table's finest draw; without them the
    partition is resampled on its own, sized for its largest family.
    """
    if reference not in partition.groups:
        raise ValueError(f"reference group {reference!r} of {partition.name} is not among its groups "
                         f"({', '.join(partition.groups)})")
    if replicates is None:
        resamples = resamples_for(largest_family(partition, outcomes, settings), settings.level,
                                  settings.resamples, settings.max_resamples)
        replicates = stratified_resample(partition.counts, resamples, generator(settings.seed, partition.name))
    results = {}
    for outcome in outcomes:
        cells = outcome.cells(partition.counts, partition.labels)
        boot = _Replicates(replicates, outcome, partition.labels)
        results[outcome.name] = _audit_outcome(partition, outcome, cells, boot, reference, settings)
    return PartitionResult(partition.name, partition.attributes, reference, reference_reason,
                           dict(train_sizes), results)


class _Replicates:
    """A partition's replicates ``(R, G, K, K)`` seen through one outcome framing: ``(R, G, 4)`` cells in float32
    (exact below 2^24 images), converted a few groups at a time.

    The whole table's cells would be the audit's largest array (race × age: 44 MB per framing)
    and are never needed at once: each table ranks a block of groups at a time.
    """

    def __init__(self, counts: np.ndarray, outcome: Outcome, labels: Sequence[str]) -> None:
        self.counts, self.outcome, self.labels = counts, outcome, labels
        self.resamples = len(counts)
        self.pooled = self._cells(counts.sum(axis=1))  # (R, 4): the whole table in every replicate

    def _cells(self, counts: np.ndarray) -> np.ndarray:
        return self.outcome.cells(counts, self.labels).astype(np.float32)

    def head(self, resamples: int) -> np.ndarray:
        """Every group's cells in the first ``resamples`` replicates: ``(resamples, G, 4)``."""
        return self._cells(self.counts[:resamples])

    def groups(self, rows: np.ndarray, resamples: int) -> np.ndarray:
        """The cells of groups ``rows`` in the first ``resamples`` replicates, group-major: ``(len(rows), R, 4)``."""
        return self._cells(np.moveaxis(self.counts[:resamples, rows], 1, 0))


def _audit_outcome(
    partition: Partition, outcome: Outcome, cells: np.ndarray, boot: _Replicates, reference: str,
    settings: Settings,
) -> OutcomeResult:
    groups, sizes = partition.groups, partition.sizes
    ref = groups.index(reference)
    few = boot.head(settings.resamples)  # pointwise intervals need only the leading replicates of the same draw
    seed_cells = None if partition.seed_counts is None else outcome.cells(partition.seed_counts, partition.labels)
    rates = _rate_estimates(cells, few, settings, seed_cells)
    comparisons: dict[str, dict[str, Judged]] = {group: {} for group in groups}
    statuses: dict[str, dict[str, Status]] = {group: {} for group in groups}
    levels = {}
    with ThreadPoolExecutor(max_workers=min(len(AGAINST), available_cores())) as pool:  # numpy releases the GIL
        tables = list(pool.map(lambda against: _Table(partition, outcome, cells, boot, ref, against, settings,
                                                      seed_cells), AGAINST))
    for against, table in zip(AGAINST, tables):
        levels[against] = table.level
        for g in table.compared:
            results = table.judge(g)
            comparisons[groups[g]][against] = results
            statuses[groups[g]][against] = ("insufficient_data" if g not in table.judged
                                            else worst([r.verdict for r in results.values()]))
        if against == "reference":
            statuses[reference][against] = "reference"
    group_results = {
        group: GroupResult(group, int(sizes[g]), {name: rates[name][g] for name in RATES}, statuses[group],
                           comparisons[group])
        for g, group in enumerate(groups)
    }
    return OutcomeResult(
        outcome, group_results, levels,
        theil_index=_estimate(theil_index(cells), theil_index(few), settings.level),
        between_group_theil_index=_estimate(between_group_theil_index(cells), between_group_theil_index(few),
                                            settings.level),
    )


class _Table:
    """One table: every group of a partition against one side (the reference group or the rest), one framing.

    The family is what gets a verdict from its interval: groups with enough images, metrics
    defined and not undefined in too many replicates, one metric per event (twins judge the
    same gap, ``measures.event``). Its intervals are at the family's simultaneous level;
    groups not judged get plain ``level`` intervals from the first ``settings.resamples``
    replicates, since nothing is concluded from them.
    """

    def __init__(self, partition: Partition, outcome: Outcome, cells: np.ndarray, boot: _Replicates, ref: int,
                 against: str, settings: Settings, seed_cells: np.ndarray | None = None) -> None:
        self.outcome, self.settings, self.against, self.cells = outcome, settings, against, cells
        sizes, metrics = partition.sizes, outcome.metrics
        n = len(partition.groups)
        if against == "reference":
            self.other, self.other_boot = cells[ref], boot.groups(np.array([ref]), boot.resamples)  # (1, R, 4)
            other_sizes = np.full(n, sizes[ref])
        else:
            self.other, self.other_boot = cells.sum(axis=0) - cells, None  # the rest's replicates: in _samples
            other_sizes = sizes.sum() - sizes
        self.sizes = (sizes, other_sizes)
        self.compared = [g for g in range(n) if not (against == "reference" and g == ref)]
        self.judged = [g for g in self.compared if min(sizes[g], other_sizes[g]) >= settings.min_group_size]
        self.values = compare(cells, self.other, metrics, strict=True)  # NaN where undefined
        self.conventional = compare(cells, self.other, metrics)  # AIF360's value, kept for the cross-check
        self.undefined = ~np.isfinite(self.values)
        self.sparse = fewest_events(cells, self.other, metrics) < settings.min_events
        judged = np.array(self.judged, dtype=np.int64)
        first = first_of_each_event(outcome)
        events = int(first.sum()) if settings.multiple_comparisons != "none" else 1
        resamples = resamples_for(len(judged) * events, settings.level, settings.resamples, boot.resamples)
        self.undefined_share = np.zeros(self.values.shape)
        family = FamilyIntervals(resamples, settings.level, settings.multiple_comparisons)
        step = max(1, BLOCK_BYTES // (len(metrics) * resamples * 4))  # groups per block of float32 replicates
        for start in range(0, len(judged), step):
            rows = judged[start:start + step]
            samples = self._samples(boot, rows, resamples)  # (b, M, R): the leading replicates the family needs
            share = (~np.isfinite(samples)).mean(axis=2)
            self.undefined_share[rows] = share
            in_family = ~self.undefined[rows] & (share <= MAX_UNDEFINED_SHARE) & first[np.newaxis, :]
            family.add(samples.reshape(-1, resamples), in_family.reshape(-1))
        self.level, bounds = family.result()
        self.bounds = np.full((*self.values.shape, 2), np.nan)
        self.bounds[judged] = bounds.reshape(len(judged), len(metrics), 2)
        rest = np.array([g for g in self.compared if g not in self.judged], dtype=np.int64)
        if len(rest):
            few = self._samples(boot, rest, settings.resamples)
            self.bounds[rest] = percentile_intervals(few.reshape(-1, few.shape[-1]).T, settings.level).reshape(
                len(rest), len(metrics), 2)
        if seed_cells is not None:
            self._add_training_variance(seed_cells, ref, judged, rest)

    def _add_training_variance(self, seed_cells: np.ndarray, ref: int, judged: np.ndarray, rest: np.ndarray) -> None:
        """Widen every interval by the spread of the seeds' own values (``audit.seeds``), at the interval's level:
        the family's simultaneous one for judged groups, the plain level for the others."""
        metrics = self.outcome.metrics
        others = (seed_cells[:, ref:ref + 1] if self.against == "reference"
                  else seed_cells.sum(axis=1, keepdims=True) - seed_cells)
        per_seed = compare(seed_cells, others, metrics, strict=True)  # (K, G, M)
        levels = np.full(self.values.shape, self.settings.level)
        if self.level.value is not None and len(judged):
            levels[judged] = self.level.value
        rows = np.concatenate([judged, rest]).astype(np.int64)
        half = seed_half_width(per_seed[:, rows], levels[rows])
        low, high = widen(self.values[rows], self.bounds[rows, :, 0], self.bounds[rows, :, 1], half)
        self.bounds[rows, :, 0], self.bounds[rows, :, 1] = low, high

    def _samples(self, boot: _Replicates, rows: np.ndarray, resamples: int) -> np.ndarray:
        """Replicates of every metric for the groups ``rows``: ``(len(rows), M, R)``, NaN where undefined.

        Group-major, one metric's replicates contiguous: the layout the interval code reads.
        """
        cells = boot.groups(rows, resamples)  # (b, R, 4)
        if self.against == "reference":
            other = self.other_boot[:, :resamples]
        else:
            other = boot.pooled[np.newaxis, :resamples] - cells
        return compare(cells, other, self.outcome.metrics, strict=True, dtype=np.float32, axis=1)

    def judge(self, g: int) -> dict[str, Judged]:
        """Every metric of group ``g``: value, interval, verdict and why."""
        results = {}
        other_cells = self.other if self.against == "reference" else self.other[g]
        who = _OTHER[self.against]
        metrics = self.outcome.metrics
        reasons = {metric: (undefined_reason(metric, self.cells[g], other_cells, who) or "undefined"
                            if self.undefined[g, m] else None) for m, metric in enumerate(metrics)}
        intervals = {}
        for m, metric in enumerate(metrics):
            low, high = self.bounds[g, m]
            if g in self.judged and reasons[metric] is None and self.sparse[g, m]:  # only sparse rates widen
                low, high = _widen_for_sparse_rates(metric, self.cells[g], other_cells, float(self.values[g, m]),
                                                    low, high, self.level.value, self.settings.min_events)
            intervals[metric] = (float(low), float(high))
        intervals |= absolute_odds_intervals(intervals)
        for m, metric in enumerate(metrics):
            sparse = (sparse_reason(metric, self.cells[g], other_cells, who, self.settings.min_events)
                      if self.sparse[g, m] else None)
            results[metric] = _judge(metric, float(self.values[g, m]), float(self.conventional[g, m]),
                                     *intervals[metric], float(self.undefined_share[g, m]), reasons[metric], sparse,
                                     self.settings, self.level, too_small=g not in self.judged,
                                     sizes=(int(self.sizes[0][g]), int(self.sizes[1][g])), other=who)
        return results


# The odds metrics built from absolute gaps, and the two gaps (TPR and FPR differences) they are built from.
_ABSOLUTE_ODDS = ("average_abs_odds_difference", "equalized_odds_difference")
_ODDS_GAPS = ("equal_opportunity_difference", "false_positive_rate_difference")


def absolute_odds_intervals(intervals: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Intervals of AAOD (mean of |TPR gap| and |FPR gap|) and EqOD (their max), from the gaps' own intervals.

    A percentile interval of |x| never reaches 0 (every replicate of an absolute value is
    above it) and the plug-in |x| is biased upward, so near parity such intervals almost
    never contain the truth (the validation measured 2 % coverage with no bias). The gaps
    are smooth and in the family; mapping their intervals through |·| and mean or max gives
    intervals that hold whenever the gaps' do, so the table's simultaneous level carries
    over. Empty when the framing has no such metrics.
    """
    if not all(name in intervals for name in (*_ABSOLUTE_ODDS, *_ODDS_GAPS)):
        return {}
    if any(math.isnan(bound) for name in _ODDS_GAPS for bound in intervals[name]):
        return dict.fromkeys(_ABSOLUTE_ODDS, (math.nan, math.nan))
    nearest, farthest = [], []
    for low, high in (intervals[name] for name in _ODDS_GAPS):
        nearest.append(0.0 if low <= 0.0 <= high else min(abs(low), abs(high)))
        farthest.append(max(abs(low), abs(high)))
    return {"average_abs_odds_difference": (0.5 * sum(nearest), 0.5 * sum(farthest)),
            "equalized_odds_difference": (max(nearest), max(farthest))}


def first_of_each_event(outcome: Outcome) -> np.ndarray:
    """A mask over ``outcome.metrics``: the first metric of each event (``measures.event``), its twins left out."""
    seen: set[frozenset[str]] = set()
    mask = []
    for metric in outcome.metrics:
        key = event(metric, correct=outcome.label is None)
        mask.append(key not in seen)
        seen.add(key)
    return np.array(mask, dtype=bool)


def _widen_for_sparse_rates(
    metric: str, group_cells: np.ndarray, other_cells: np.ndarray, value: float, low: float, high: float,
    level: float, minimum: int,
) -> tuple[float, float]:
    """Widen a comparison's interval by what its sparse rates (fewer than ``minimum`` events or non-events)
    could hide.

    The bootstrap nearly holds such a rate fixed; its Clopper–Pearson interval at ``level``
    (the table's per-interval level) says how far the truth may lie from it. The metric is
    recomputed with each side's sparse rates moved to either end, and the interval stretched
    by the largest move each way: 0 of 526 may hide a rate up to 0.014, never one of 0.1, so a
    gap of 0.46 still fails, while 1 false positive of 25 can no longer make a gap look certain.
    """
    if not math.isfinite(value):
        return low, high
    options = []
    for cells in (group_cells, other_cells):
        moves = [m for rate in COMPARISONS[metric].rates for m in sparse_shifts(cells, rate, level, minimum)]
        options.append([np.asarray(cells, dtype=np.float64), *moves])
    if len(options[0]) == len(options[1]) == 1:
        return low, high
    pairs = list(itertools.product(*options))[1:]  # every side at its point or one of its moves, not both at point
    moved = compare(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), (metric,), strict=True)[:, 0]
    moves = moved[np.isfinite(moved)] - value
    if not moves.size:
        return low, high
    return min(low, low + float(moves.min())), max(high, high + float(moves.max()))


def _rate_estimates(cells: np.ndarray, boot: np.ndarray, settings: Settings,
                    seed_cells: np.ndarray | None = None) -> dict[str, list[Estimate]]:
    """Per rate, per group: the point rate and its (pointwise) percentile interval, exact where degenerate.

    A rate at 0 or all events is the same in every replicate; its Clopper–Pearson interval
    shows the uncertainty the bootstrap cannot (a group of 10 all correct: [0.69, 1], not [1, 1]).
    With several seeds (``seed_cells``, ``(K, G, 4)``) each interval is widened by the spread
    of the seeds' own rates (``audit.seeds``).
    """
    level, boot = settings.level, boot[:settings.resamples]
    points, samples = group_rates(cells), group_rates(boot, strict=True)
    per_seed = group_rates(seed_cells, strict=True) if seed_cells is not None else None
    names = list(RATES)
    stacked = np.stack([samples[name] for name in names], axis=-1)  # (R, G, rates)
    bounds = percentile_intervals(stacked.reshape(len(boot), -1), level).reshape(*stacked.shape[1:], 2)
    estimates: dict[str, list[Estimate]] = {}
    for r, name in enumerate(names):
        rate = RATES[name]
        row = []
        for g in range(cells.shape[0]):
            low, high = map(float, bounds[g, r])
            exact = exact_rate_interval(float(cells[g][[CELLS.index(c) for c in rate.numerator]].sum()),
                                        float(cells[g][[CELLS.index(c) for c in rate.denominator]].sum()), level)
            if exact is not None:
                low, high = exact
            if per_seed is not None:
                half = seed_half_width(per_seed[name][:, g], level)
                low, high = map(float, widen(points[name][g], low, high, half))
            row.append(Estimate(float(points[name][g]), low, high))
        estimates[name] = row
    return estimates


def _estimate(point: np.ndarray, samples: np.ndarray, level: float) -> Estimate:
    low, high = percentile_intervals(np.asarray(samples, dtype=np.float64).reshape(-1, 1), level)[0]
    return Estimate(float(point), float(low), float(high))


def _judge(
    metric: str, value: float, conventional: float, low: float, high: float, undefined_share: float,
    reason: str | None, sparse: str | None, settings: Settings, level: Level, *, too_small: bool,
    sizes: tuple[int, int], other: str,
) -> Judged:
    """The verdict of one comparison. ``sparse`` (few events) may block a pass, never a fail: a gap seen on
    0 of 526 is evidence, and the interval already holds the exact bound of the degenerate rate."""
    title = COMPARISONS[metric].title

    def judged(verdict_: Verdict, explanation: str) -> Judged:
        return Judged(value, low, high, verdict_, explanation, reason, conventional)

    if too_small:
        return judged("inconclusive", f"Not judged: the group has {sizes[0]} test images and {other} {sizes[1]}; "
                                      f"at least {settings.min_group_size} each are needed.")
    if reason is not None:
        return judged("inconclusive", f"Not judged: {reason}.")
    if undefined_share > MAX_UNDEFINED_SHARE:
        return judged("inconclusive", f"Not judged: {title.lower()} is undefined in {undefined_share:.0%} of the "
                                      "bootstrap resamples (too few images in a cell it divides by).")
    outcome, explanation = verdict(metric, value, low, high, settings.bands[metric], level.value,
                                   at_ceiling=level.at_ceiling)
    if sparse is not None and outcome == "pass":
        return judged("inconclusive", f"Not certified: {explanation[:-1]}, but {sparse}.")
    return judged(outcome, explanation)
