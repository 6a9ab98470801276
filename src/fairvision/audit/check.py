"""`fairvision check`: did this change make a model less fair than the baseline? The CI gate.

An audit asks "is this model fair enough"; the gate asks "did it get worse", so every
comparison of a group with its reference group is judged on Δ, the change in its distance
from parity (|d| for a difference, |ln r| for a ratio; ``summary.distances_from_parity``):

* **Paired** (both prediction tables): the same images were predicted twice, so the rows are
  resampled *jointly* — counts of (group, true label, baseline prediction, current prediction)
  with the audit's group-stratified bootstrap. Which images happen to be in the test set then
  moves both audits alike and cancels out of Δ; only images whose prediction changed make Δ
  uncertain. That is what lets a gate detect a regression smaller than either audit's own
  interval, and, for groups of a few thousand images, stay quiet when a rerun flips a handful
  of predictions (small groups and ratios of small rates stay inconclusive: too little data).
* **Unpaired** (a prediction table is missing): only the two fairness.json intervals are
  known, and their noise does not cancel, so the check is conservative: a regression must
  show even between the current interval's nearest and the baseline interval's farthest point.

Judged by the interval, as in the audit: ``regression`` when the whole Δ interval lies above
the margin (params.yaml `check`); ``inconclusive`` when the point Δ is past the margin but its
interval reaches below it (it looks worse, the data cannot tell); ``ok`` otherwise, so a rerun
whose predictions barely moved is not held up by the width of a small group's interval. The
intervals are simultaneous over a table (every judged group × metric of one partition and
outcome framing). Groups below `audit.min_group_size` and undefined values are reported as
not judged, with the reason, never dropped.

An audit that measured no group fairness (a dataset without protected attributes) has
nothing to regress: the check says so, with the audit's reason, and passes. If the baseline
did measure it, the change stopped the gate from seeing group fairness at all, and the check
is ``inconclusive`` (it cannot show there was no regression) rather than quietly ``ok``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

from fairvision.audit.baseline import (
    PREDICTIONS, AuditFiles, Paired, baseline_audit, current_audit, pair, require_same_evaluation_set,
)
from fairvision.audit.bootstrap import generator, stratified_resample
from fairvision.audit.engine import MAX_UNDEFINED_SHARE
from fairvision.audit.intervals import Method, family_level, percentile_intervals
from fairvision.audit.measures import COMPARISONS, compare, undefined_reason
from fairvision.audit.outcomes import Outcome, outcomes_for
from fairvision.audit.partitions import category_codes, count_cells, group_keys, label_codes, ordered_groups
from fairvision.audit.record import GroupAudit, PartitionAudit
from fairvision.audit.summary import distances_from_parity
from fairvision.errors import FairvisionError
from fairvision.params import Params

__all__ = ["CHANGES", "RunCheck", "Change", "CheckResult", "CheckSettings", "Finding", "render",
           "render_markdown", "render_text", "run_check"]

Change = Literal["regression", "inconclusive", "ok", "not_judged"]
CHANGES: tuple[Change, ...] = ("regression", "inconclusive", "ok", "not_judged")
EXIT_STATUS = {"ok": 0, "regression": 1, "inconclusive": 2}  # 2 is also every usage error (cli)
REFERENCE = "the reference group"


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """How to judge a change: margins from params.yaml `check`, the bootstrap and group size from `audit`."""

    difference_margin: float
    ratio_margin: float  # a share: |ln r| may grow by ln(1 + ratio_margin)
    min_group_size: int
    resamples: int
    seed: int
    level: float
    multiple_comparisons: Method

    @classmethod
    def from_params(cls, params: Params) -> CheckSettings:
        audit = params.audit
        return cls(params.check.difference_margin, params.check.ratio_margin, audit.min_group_size,
                   audit.bootstrap.resamples, audit.bootstrap.seed, audit.bootstrap.level,
                   audit.multiple_comparisons)  # type: ignore[arg-type]  # validated in params

    def margin(self, metric: str) -> float:
        """How much further from parity a metric may move: on the |d| scale, or the |ln r| scale for a ratio."""
        return {"difference": self.difference_margin, "ratio": math.log1p(self.ratio_margin)}[COMPARISONS[metric].kind]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One comparison (a group against the reference group on one metric) before and after.

    ``baseline`` and ``current`` are the metric's values; ``delta`` is the change in distance from
    parity with its interval ``[low, high]`` (NaN where not judged); ``reason`` says why not judged.
    """

    partition: str
    outcome: str
    group: str
    metric: str
    change: Change
    baseline: float
    current: float
    delta: float
    low: float
    high: float
    margin: float
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class RunCheck:
    """Every finding for one run (a backbone on a dataset) and how they were reached (paired on shared ids,
    or unpaired and why).

    ``not_measured`` is the current audit's reason for measuring no group fairness (then there are no
    findings); ``lost_measurement`` says the baseline did measure it.
    """

    run: str  # <dataset>/<backbone>
    findings: tuple[Finding, ...]
    paired: Paired | None
    unpaired_reason: str | None
    not_measured: str | None = None
    lost_measurement: bool = False

    def of(self, change: Change) -> list[Finding]:
        return [finding for finding in self.findings if finding.change == change]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The whole check: one ``RunCheck`` per dataset and backbone; ``outcome`` and ``exit_status`` sum it up."""

    baseline: str
    settings: CheckSettings
    runs: tuple[RunCheck, ...]

    def of(self, change: Change) -> list[tuple[str, Finding]]:
        return [(b.run, finding) for b in self.runs for finding in b.of(change)]

    @property
    def outcome(self) -> Literal["regression", "inconclusive", "ok"]:
        """``regression`` if anything regressed, else ``inconclusive`` if anything is or a run stopped
        measuring group fairness, else ``ok``."""
        if self.of("regression"):
            return "regression"
        return "inconclusive" if self.of("inconclusive") or any(b.lost_measurement for b in self.runs) else "ok"

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.outcome]


def run_check(runs: Sequence[str], rev_or_path: str, settings: CheckSettings) -> CheckResult:
    """Compare each run's working-tree audit with its baseline audit.

    Args:
        runs: ``<dataset>/<backbone>`` names; each needs ``audits/<run>/fairness.json`` on both sides.
        rev_or_path: an audits folder holding ``<run>/fairness.json`` (and ideally ``<run>/predictions.parquet``),
            or a git revision read through DVC.
        settings: margins, bootstrap and minimum group size.

    Returns:
        The findings, paired where both prediction tables are available, unpaired otherwise.

    Raises:
        FairvisionError: naming the file, when an audit is missing or the evaluation sets differ.
    """
    checks = []
    for run in runs:
        current, baseline = current_audit(run), baseline_audit(rev_or_path, run)
        require_same_evaluation_set(baseline, current)
        missing = baseline.no_predictions or current.no_predictions
        if not current.fairness.group_fairness.measured:
            checks.append(RunCheck(run, (), None, None, current.fairness.group_fairness.reason,
                                        lost_measurement=baseline.fairness.group_fairness.measured))
        elif missing:
            checks.append(RunCheck(run, tuple(_unpaired(baseline, current, settings)), None, missing))
        else:
            paired = pair(baseline, current)
            checks.append(RunCheck(run, tuple(_paired(paired, baseline, current, settings)), paired, None))
    return CheckResult(rev_or_path, settings, tuple(checks))


# -- paired: a joint bootstrap of both models' predictions on the same images ---------------------------------

def _paired(paired: Paired, baseline: AuditFiles, current: AuditFiles, settings: CheckSettings) -> Iterable[Finding]:
    audit = current.fairness
    labels = list(audit.labels)
    outcomes = outcomes_for(labels, audit.favorable_label)
    rows = paired.rows
    try:
        codes = label_codes(rows, labels, ("label", "pred_baseline", "pred_current"))
    except ValueError as error:
        raise FairvisionError(f"{baseline.file(PREDICTIONS)} or {current.file(PREDICTIONS)}: {error} "
                              "(`_baseline` / `_current` say which table)") from None
    for name, entry in audit.partitions.items():
        attributes = list(entry.attributes)
        absent = [a for a in attributes if a not in rows.columns]
        if absent:
            raise FairvisionError(f"{current.file(PREDICTIONS)}: no column {', '.join(absent)} for partition {name}")
        keys = group_keys(rows, attributes)
        groups = ordered_groups(attributes, [*keys.unique(), *entry.groups])
        group_codes = category_codes(keys, groups)
        joint = count_cells(group_codes, codes, len(groups), len(labels))  # (G, K, K, K): truth, before, after
        yield from _paired_partition(name, joint, groups, groups.index(entry.reference), labels, outcomes, settings)


def _paired_partition(
    name: str, joint: np.ndarray, groups: Sequence[str], ref: int, labels: Sequence[str],
    outcomes: Sequence[Outcome], settings: CheckSettings,
) -> Iterable[Finding]:
    k = len(labels)
    flat = joint.reshape(len(groups), -1)
    present = np.flatnonzero(flat.any(axis=0))  # resample only the joint cells that occur: K³ can be large
    counts = flat[:, present]
    replicates = stratified_resample(counts, settings.resamples, generator(settings.seed, "check", name))
    sizes = counts.sum(axis=1)
    # Each joint cell (t, before, after) adds to the baseline confusion cell (t, before) and the current one (t, after).
    projections = {"baseline": _one_hot(present // k, k * k),
                   "current": _one_hot((present // (k * k)) * k + present % k, k * k)}
    confusion = {side: (counts @ p).reshape(-1, k, k) for side, p in projections.items()}
    boot = {side: (replicates @ p).reshape(settings.resamples, -1, k, k) for side, p in projections.items()}
    for outcome in outcomes:
        yield from _paired_outcome(name, outcome, groups, ref, sizes, labels, confusion, boot, settings)


def _paired_outcome(
    name: str, outcome: Outcome, groups: Sequence[str], ref: int, sizes: np.ndarray, labels: Sequence[str],
    confusion: Mapping[str, np.ndarray], boot: Mapping[str, np.ndarray], settings: CheckSettings,
) -> Iterable[Finding]:
    metrics = outcome.metrics
    cells = {side: outcome.cells(c, labels) for side, c in confusion.items()}  # (G, 4)
    values = {side: _against_reference(c, ref, metrics) for side, c in cells.items()}  # (G, M)
    samples = {side: _against_reference(outcome.cells(c, labels), ref, metrics) for side, c in boot.items()}
    delta, deltas = _change(values, metrics), _change(samples, metrics)  # (G, M), (R, G, M)

    reasons: dict[tuple[int, int], str] = {}
    judged: list[tuple[int, int]] = []
    for g in range(len(groups)):
        if g == ref:
            continue
        for m, metric in enumerate(metrics):
            reason = _paired_reason(metric, g, ref, sizes, cells, delta[g, m], deltas[:, g, m], settings)
            if reason:
                reasons[g, m] = reason
            else:
                judged.append((g, m))
    family = np.stack([deltas[:, g, m] for g, m in judged], axis=1) if judged else np.empty((len(deltas), 0))
    level = family_level(family, settings.level, settings.multiple_comparisons)
    bounds = dict(zip(judged, percentile_intervals(family, level)))

    for g, group in enumerate(groups):
        if g == ref:
            continue
        for m, metric in enumerate(metrics):
            before, after, margin = values["baseline"][g, m], values["current"][g, m], settings.margin(metric)
            if (g, m) in reasons:
                yield Finding(name, outcome.name, group, metric, "not_judged", before, after, math.nan, math.nan,
                              math.nan, margin, reasons[g, m])
                continue
            low, high = bounds[g, m]
            change = judge_change(float(delta[g, m]), float(low), margin)
            yield Finding(name, outcome.name, group, metric, change, before, after, float(delta[g, m]),
                          float(low), float(high), margin)


def judge_change(delta: float, low: float, margin: float) -> Change:
    """``regression`` if the Δ interval's lower end is past the margin, ``inconclusive`` if only the point is."""
    return "regression" if low > margin else "inconclusive" if delta > margin else "ok"


def _against_reference(cells: np.ndarray, ref: int, metrics: tuple[str, ...]) -> np.ndarray:
    """Every group's metrics against the reference group: cells ``(..., G, 4)`` -> ``(..., G, M)``; NaN if undefined."""
    return compare(cells, cells[..., ref:ref + 1, :], metrics, strict=True)


def _change(values: Mapping[str, np.ndarray], metrics: tuple[str, ...]) -> np.ndarray:
    """Δ: the current distance from parity minus the baseline's (NaN where either is undefined, or both infinite)."""
    with np.errstate(invalid="ignore"):  # inf - inf: a ratio of 0 on both sides; not judged
        return distances_from_parity(values["current"], metrics) - distances_from_parity(values["baseline"], metrics)


def _paired_reason(
    metric: str, g: int, ref: int, sizes: np.ndarray, cells: Mapping[str, np.ndarray], delta: float,
    deltas: np.ndarray, settings: CheckSettings,
) -> str | None:
    """Why a comparison cannot be judged (too few images, undefined on either side), or None."""
    if min(sizes[g], sizes[ref]) < settings.min_group_size:
        return (f"fewer than min_group_size {settings.min_group_size} shared images "
                f"(group {int(sizes[g])}, reference {int(sizes[ref])})")
    for side, side_cells in cells.items():
        why = undefined_reason(metric, side_cells[g], side_cells[ref], REFERENCE)
        if why:
            return f"{side}: {why}"
    if not math.isfinite(delta):
        return "a ratio of 0 is infinitely far from parity on either side, so the change has no size"
    undefined = float((~np.isfinite(deltas)).mean())
    if undefined > MAX_UNDEFINED_SHARE:
        return f"undefined in {undefined:.0%} of the bootstrap resamples (too few images in a cell it divides by)"
    return None


def _one_hot(index: np.ndarray, width: int) -> np.ndarray:
    """A 0/1 matrix ``(len(index), width)`` that adds each column's counts into cell ``index[i]``."""
    out = np.zeros((len(index), width))
    out[np.arange(len(index)), index] = 1.0
    return out


# -- unpaired: the two audits' intervals, compared conservatively --------------------------------------------

def _unpaired(baseline: AuditFiles, current: AuditFiles, settings: CheckSettings) -> Iterable[Finding]:
    for name, entry in current.fairness.partitions.items():
        before_entry = baseline.fairness.partitions.get(name)
        for outcome in current.fairness.outcomes:
            for group, now in entry.outcomes[outcome.name].groups.items():
                if now.status["reference"] == "reference":
                    continue
                then = _baseline_group(before_entry, entry, outcome.name, group)
                for metric in outcome.metrics:
                    yield _unpaired_finding(name, outcome.name, group, metric, then, now, settings)


def _baseline_group(before: PartitionAudit | None, now: PartitionAudit, outcome: str, group: str) -> GroupAudit | str:
    """The baseline's entry for a group, or why there is none to compare with."""
    if before is None:
        return "the baseline audit has no such partition"
    if before.reference != now.reference:
        return f"the reference group differs (baseline {before.reference}, now {now.reference})"
    table = before.outcomes.get(outcome)
    entry = table.groups.get(group) if table is not None else None
    return entry if entry is not None else "the baseline audit has no such group or outcome"


def _unpaired_finding(
    partition: str, outcome: str, group: str, metric: str, then: GroupAudit | str, now: GroupAudit,
    settings: CheckSettings,
) -> Finding:
    margin = settings.margin(metric)

    def not_judged(reason: str, before: float = math.nan, after: float = math.nan) -> Finding:
        return Finding(partition, outcome, group, metric, "not_judged", before, after, math.nan, math.nan,
                       math.nan, margin, reason)

    if isinstance(then, str):
        return not_judged(then)
    sides = {"baseline": then, "current": now}
    for side, entry in sides.items():
        if entry.status["reference"] == "insufficient_data":
            return not_judged(f"{side}: insufficient data (n = {entry.n})")
    judged = {side: entry.comparisons.get("reference", {}).get(metric) for side, entry in sides.items()}
    before, after = (math.nan if result is None else _number(result.estimate.value) for result in judged.values())
    bounds = {}
    for side, result in judged.items():
        if result is None:
            return not_judged(f"{side}: the audit has no value for this metric", before, after)
        interval = _number(result.estimate.low), _number(result.estimate.high)
        if not all(math.isfinite(x) for x in (_number(result.estimate.value), *interval)):
            return not_judged(f"{side}: {result.undefined or 'undefined, or no finite interval'}", before, after)
        bounds[side] = _distance_bounds(metric, *interval)
    (near_before, far_before), (near_after, far_after) = bounds["baseline"], bounds["current"]
    point = distances_from_parity(np.array([after, before]), (metric,))
    delta, low, high = float(point[0] - point[1]), near_after - far_before, far_after - near_before
    if not math.isfinite(delta):
        return not_judged("a ratio of 0 is infinitely far from parity, so the change has no size", before, after)
    change = judge_change(delta, low, margin)
    return Finding(partition, outcome, group, metric, change, before, after, delta, low, high, margin)


def _distance_bounds(metric: str, low: float, high: float) -> tuple[float, float]:
    """The nearest and farthest distance from parity of any value in ``[low, high]``."""
    ends = distances_from_parity(np.array([low, high]), (metric,))
    parity = COMPARISONS[metric].parity
    nearest = 0.0 if low <= parity <= high else float(ends.min())
    return nearest, float(ends.max())


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


# -- output --------------------------------------------------------------------------------------------------

HEADLINE = {"regression": "regression", "inconclusive": "inconclusive (no regression shown, but some changes "
            "could not be ruled out)", "ok": "no regression"}
DELTA_NOTE = ("Δ is the change in distance from parity (|d| for a difference, |ln r| for a ratio) with its "
              "interval; a regression is a Δ interval wholly above the margin (params.yaml `check`).")


def render(result: CheckResult, form: Literal["text", "markdown"]) -> str:
    """The check's report: ``text`` for a terminal or CI log, ``markdown`` for a pull-request comment."""
    return render_markdown(result) if form == "markdown" else render_text(result)


def render_text(result: CheckResult) -> str:
    """One line per run (how it was compared), per regressed or inconclusive comparison, and a summary."""
    lines = [f"{b.run}: {_mode(b, result.settings)}" for b in result.runs]
    for change in ("regression", "inconclusive"):
        for run, f in result.of(change):  # type: ignore[arg-type]
            lines.append(f"{change.upper():<12} {run} · {f.partition} · {f.outcome} · {f.group} · {f.metric}: "
                         f"{_value(f.baseline)} → {_value(f.current)}, Δ {f.delta:+.3f} "
                         f"[{f.low:+.3f}, {f.high:+.3f}], margin {f.margin:.3f}")
    lines.append(f"fairvision check: {HEADLINE[result.outcome]}: {_counts(result)} "
                 f"against baseline {result.baseline}")
    return "\n".join(lines) + "\n"


def render_markdown(result: CheckResult) -> str:
    """A pull-request comment: the outcome as heading, how each run was compared, tables of findings."""
    icon = {"regression": "❌", "inconclusive": "⚠️", "ok": "✅"}[result.outcome]
    out = [f"## {icon} Fairness check: {HEADLINE[result.outcome]}", "",
           f"Against baseline `{result.baseline}`: {_counts(result)}.", "",
           "| Dataset / backbone | Comparison | Checked | Regressions | Inconclusive | Not judged |",
           "|---|---|---:|---:|---:|---:|"]
    for b in result.runs:
        judged = len(b.findings) - len(b.of("not_judged"))
        out.append(_row(b.run, _mode(b, result.settings), judged, len(b.of("regression")),
                        len(b.of("inconclusive")), len(b.of("not_judged"))))
    for change, title in (("regression", "Regressions"), ("inconclusive", "Inconclusive")):
        found = result.of(change)  # type: ignore[arg-type]
        if not found:
            continue
        out += ["", f"### {title}", "",
                "| Dataset / backbone | Partition | Outcome | Group | Metric | Baseline | Current | Δ | Interval | Margin |",
                "|---|---|---|---|---|---:|---:|---:|---|---:|"]
        out += [_row(run, f.partition, f.outcome, f.group, f.metric, _value(f.baseline), _value(f.current),
                     f"{f.delta:+.3f}", f"[{f.low:+.3f}, {f.high:+.3f}]", f"{f.margin:.3f}") for run, f in found]
    not_judged = _not_judged_groups(result)
    if not_judged:
        out += ["", f"<details><summary>Not judged ({len(result.of('not_judged'))} comparisons)</summary>", "",
                "| Dataset / backbone | Partition | Outcome | Group | Metrics | Reason |", "|---|---|---|---|---|---|"]
        out += [_row(*key, metrics[0] if len(metrics) == 1 else f"{len(metrics)} metrics", reason)
                for (*key, reason), metrics in not_judged.items()]
        out += ["", "</details>"]
    out += ["", DELTA_NOTE]
    return "\n".join(out) + "\n"


def _mode(check: RunCheck, settings: CheckSettings) -> str:
    """How a run was compared, in one sentence (the unpaired case says why and what it costs)."""
    if check.not_measured is not None:
        lost = ("; the baseline measured it, so this change hides group fairness from the check: inconclusive"
                if check.lost_measurement else "")
        return f"group fairness not measured, nothing to compare ({check.not_measured}){lost}"
    if check.paired is not None:
        p = check.paired
        return (f"paired bootstrap on {p.shared} shared image ids ({p.only_baseline} only in the baseline, "
                f"{p.only_current} only in the current audit), {settings.resamples} resamples, "
                f"{settings.level:.0%} simultaneous intervals")
    return (f"unpaired ({check.unpaired_reason}): compared the two audits' intervals, which is conservative: "
            "a regression must show between the intervals' far ends, so smaller ones go unnoticed")


def _counts(result: CheckResult) -> str:
    n = {change: len(result.of(change)) for change in CHANGES}
    return (f"{n['regression']} regressed, {n['inconclusive']} inconclusive, {n['ok']} ok "
            f"of {n['regression'] + n['inconclusive'] + n['ok']} comparisons checked; {n['not_judged']} not judged")


def _not_judged_groups(result: CheckResult) -> dict[tuple[str, ...], list[str]]:
    """Not-judged metrics per (run, partition, outcome, group, reason), in report order: one row each."""
    grouped: dict[tuple[str, ...], list[str]] = {}
    for run, f in result.of("not_judged"):
        grouped.setdefault((run, f.partition, f.outcome, f.group, f.reason or ""), []).append(f.metric)
    return grouped


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _value(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "undefined"
