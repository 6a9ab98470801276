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
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fairvision.audit.bootstrap import generator, stratified_resample
from fairvision.audit.intervals import Method, family_level, percentile_intervals
from fairvision.audit.measures import (
    COMPARISONS, RATES, between_group_theil_index, compare, fewest_events, group_rates, sparse_reason, theil_index,
    undefined_reason,
)
from fairvision.audit.outcomes import Outcome, outcomes_for
from fairvision.audit.partitions import Partition, build_partition, group_keys, label_codes
from fairvision.audit.verdicts import Band, verdict
from fairvision.audit.vocabulary import AGAINST, Status, Verdict, partition_name, worst

# A comparison whose replicates are undefined more often than this is not judged: its
# interval would describe only the lucky resamples (e.g. a group with a handful of positives).
MAX_UNDEFINED_SHARE = 0.01
_OTHER = {"reference": "the reference group", "rest": "the rest"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to judge: from params.yaml `audit` (see params.Audit)."""

    min_group_size: int
    resamples: int
    seed: int
    level: float
    multiple_comparisons: Method
    bands: Mapping[str, Band]
    min_events: int = 5  # fewest events and non-events behind a rate for its comparisons to be judged


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point value with its interval; NaN where undefined."""

    value: float
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class Judged(Estimate):
    """A comparison's estimate, its verdict and why; ``undefined`` says why the value is missing."""

    verdict: Verdict
    explanation: str
    undefined: str | None


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
    levels: Mapping[str, float]  # against -> per-interval level making the table's intervals simultaneous
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


def audit_table(
    predictions: pd.DataFrame,
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

    ``reference_key`` is where ``references`` live in params.yaml, for error messages.

    Raises ValueError, worded for the user, for labels the model does not know or a reference
    group that does not exist.
    """
    outcomes = outcomes_for(labels, favorable)
    codes = label_codes(predictions, labels)
    partitions, results = [], []
    for attributes in [(attribute,) for attribute in protected] + [tuple(i) for i in intersections]:
        name = partition_name(attributes)
        counted = group_keys(train, attributes).value_counts().to_dict()
        partition = build_partition(predictions, attributes, labels, known_groups=counted, codes=codes)
        train_sizes = {group: int(counted.get(group, 0)) for group in partition.groups}
        reference, reason = resolve_reference(references.get(name, "auto"), name, train_sizes, reference_key)
        try:
            results.append(audit_partition(partition, outcomes, reference, reason, train_sizes, settings))
        except ValueError as error:
            raise ValueError(f"`{reference_key}.{name}` in params.yaml: {error}") from None
        partitions.append(partition)
    return AuditRun(outcomes, tuple(partitions), tuple(results))


def audit_partition(
    partition: Partition,
    outcomes: Sequence[Outcome],
    reference: str,
    reference_reason: str,
    train_sizes: Mapping[str, int],
    settings: Settings,
) -> PartitionResult:
    """Audit every outcome framing of one partition; raises ValueError if ``reference`` is not a group."""
    if reference not in partition.groups:
        raise ValueError(f"reference group {reference!r} of {partition.name} is not among its groups "
                         f"({', '.join(partition.groups)})")
    rng = generator(settings.seed, partition.name)
    replicates = stratified_resample(partition.counts, settings.resamples, rng)
    results = {}
    for outcome in outcomes:
        cells = outcome.cells(partition.counts, partition.labels)
        boot = outcome.cells(replicates, partition.labels)
        results[outcome.name] = _audit_outcome(partition, outcome, cells, boot, reference, settings)
    return PartitionResult(partition.name, partition.attributes, reference, reference_reason,
                           dict(train_sizes), results)


def _audit_outcome(
    partition: Partition, outcome: Outcome, cells: np.ndarray, boot: np.ndarray, reference: str, settings: Settings
) -> OutcomeResult:
    groups, sizes = partition.groups, partition.sizes
    ref = groups.index(reference)
    rates = _rate_estimates(cells, boot, settings.level)
    sides = {"reference": (cells[ref], boot[:, ref:ref + 1]), "rest": (cells.sum(axis=0) - cells, boot.sum(axis=1, keepdims=True) - boot)}
    comparisons: dict[str, dict[str, dict[str, Judged]]] = {group: {} for group in groups}
    statuses: dict[str, dict[str, Status]] = {group: {} for group in groups}
    levels = {}
    for against in AGAINST:
        other, other_boot = sides[against]
        other_sizes = np.full(len(groups), sizes[ref]) if against == "reference" else sizes.sum() - sizes
        compared = [g for g in range(len(groups)) if not (against == "reference" and g == ref)]
        judged = [g for g in compared if min(sizes[g], other_sizes[g]) >= settings.min_group_size]
        values = compare(cells, other, outcome.metrics)  # (G, M), AIF360's conventions
        undefined = ~np.isfinite(compare(cells, other, outcome.metrics, strict=True))  # any empty denominator
        sparse = fewest_events(cells, other, outcome.metrics) < settings.min_events
        samples = compare(boot, other_boot, outcome.metrics, strict=True)  # (R, G, M)
        # The family is what gets a verdict from its interval: judged groups, defined and well-populated metrics.
        in_family = np.zeros(values.shape, dtype=bool)
        in_family[judged] = True
        in_family &= ~undefined & ~sparse
        levels[against] = family_level(samples[:, in_family], settings.level, settings.multiple_comparisons)
        bounds = percentile_intervals(samples.reshape(len(boot), -1), levels[against]).reshape(*values.shape, 2)
        undefined_share = (~np.isfinite(samples)).mean(axis=0)
        for g in compared:
            other_cells = other if against == "reference" else other[g]
            results = {
                metric: _judge(metric, values[g, m], bounds[g, m], undefined_share[g, m],
                               undefined_reason(metric, cells[g], other_cells, _OTHER[against])
                               if undefined[g, m] else None,
                               sparse_reason(metric, cells[g], other_cells, _OTHER[against], settings.min_events)
                               if sparse[g, m] else None,
                               settings, levels[against], too_small=g not in judged,
                               sizes=(int(sizes[g]), int(other_sizes[g])), other=_OTHER[against])
                for m, metric in enumerate(outcome.metrics)
            }
            comparisons[groups[g]][against] = results
            statuses[groups[g]][against] = ("insufficient_data" if g not in judged
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
        theil_index=_estimate(theil_index(cells), theil_index(boot), settings.level),
        between_group_theil_index=_estimate(between_group_theil_index(cells), between_group_theil_index(boot),
                                            settings.level),
    )


def _rate_estimates(cells: np.ndarray, boot: np.ndarray, level: float) -> dict[str, list[Estimate]]:
    """Per rate, per group: the point rate and its (pointwise) percentile interval."""
    points, samples = group_rates(cells), group_rates(boot, strict=True)
    names = list(RATES)
    stacked = np.stack([samples[name] for name in names], axis=-1)  # (R, G, rates)
    bounds = percentile_intervals(stacked.reshape(len(boot), -1), level).reshape(*stacked.shape[1:], 2)
    return {name: [Estimate(float(points[name][g]), *map(float, bounds[g, r])) for g in range(cells.shape[0])]
            for r, name in enumerate(names)}


def _estimate(point: np.ndarray, samples: np.ndarray, level: float) -> Estimate:
    low, high = percentile_intervals(np.asarray(samples, dtype=np.float64).reshape(-1, 1), level)[0]
    return Estimate(float(point), float(low), float(high))


def _judge(
    metric: str, value: float, bounds: np.ndarray, undefined_share: float, reason: str | None, sparse: str | None,
    settings: Settings,
    level: float, *, too_small: bool, sizes: tuple[int, int], other: str,
) -> Judged:
    low, high, value = float(bounds[0]), float(bounds[1]), float(value)
    title = COMPARISONS[metric].title
    if too_small:
        explanation = (f"Not judged: the group has {sizes[0]} test images and {other} {sizes[1]}; "
                       f"at least {settings.min_group_size} each are needed.")
        return Judged(value, low, high, "inconclusive", explanation, reason)
    if reason is not None:
        return Judged(value, low, high, "inconclusive", f"Not judged: {reason}.", reason)
    if sparse is not None:
        return Judged(value, low, high, "inconclusive", f"Not judged: {sparse}.", None)
    if undefined_share > MAX_UNDEFINED_SHARE:
        explanation = (f"Not judged: {title.lower()} is undefined in {undefined_share:.0%} of the bootstrap "
                       "resamples (too few images in a cell it divides by).")
        return Judged(value, low, high, "inconclusive", explanation, None)
    outcome, explanation = verdict(metric, value, low, high, settings.bands[metric], level)
    return Judged(value, low, high, outcome, explanation, None)
