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

* **Procedures** (several training seeds on a side, params.yaml `train.seeds`): each side's
  counts are its seeds' mean, the shared images are resampled as above
  (``bootstrap.seeds_resample``), and each Δ interval adds the spread of each side's seeds' own
  distances (``audit.seeds.change_half_width``), so it holds the training's randomness and two
  independent sets of seeds of one procedure are not a regression.

Judged by the interval, as in the audit: ``regression`` when the whole Δ interval lies above
the margin (params.yaml `check`) plus the metric's training-noise allowance (0 when both sides
are several seeds); ``inconclusive`` when the interval clears the margin but not the allowance
(a side is one training run, and two seeds of the same procedure differ by that much:
docs/seed-variance.md), or, where a side is one training run, when the point Δ is past the margin
but its interval reaches below it (it looks worse, the data cannot tell); ``ok`` otherwise, so a
rerun whose predictions barely moved is not held up by the width of a small group's interval.
Between procedures, a point past the margin whose interval reaches below it is within the training
noise both sides measured, and is ``ok`` with that reason (``WITHIN_SEED_NOISE``, listed apart). The intervals are simultaneous over a table (every judged group × metric
of one partition and outcome framing), with as many paired replicates as the table's family needs
(``intervals.resamples_for``). A ratio that falls to 0 is far from parity, not infinitely far:
for the distance, empty cells count as half an image (Haldane–Anscombe), so a disparate impact
dropping to 0 is a regression, judged by its interval like any other. Groups below
`audit.min_group_size` and undefined values are reported as not judged, with the reason, never
dropped.

What the baseline judged must still be judged: a partition, outcome or group of the baseline
audit that is missing now (an attribute dropped from `protected`, a group renamed), and a
comparison the baseline judged that is not judged now, are ``inconclusive`` with the reason; so
is a check in which nothing could be judged. The settings come from the working tree only where
they do not loosen the baseline's (``gate``).

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
    FAIRNESS, PREDICTIONS, AuditFiles, Paired, baseline_audit, baseline_check, current_audit, pair,
    require_same_evaluation_set,
)
from fairvision.audit.bootstrap import generator, seeds_resample, stratified_resample
from fairvision.audit.engine import MAX_RESAMPLES, MAX_UNDEFINED_SHARE, first_of_each_event
from fairvision.audit.gate import CheckSettings, require_not_loosened
from fairvision.audit.intervals import family_intervals, resamples_for
from fairvision.audit.measures import COMPARISONS, compare, undefined_reason
from fairvision.audit.outcomes import Outcome, outcomes_for
from fairvision.audit.partitions import category_codes, count_cells, label_codes, ordered_groups
from fairvision.audit.record import Fairness, GroupAudit, PartitionAudit
from fairvision.audit.seeds import change_half_width, widen
from fairvision.audit.summary import distances_from_parity
from fairvision.errors import FairvisionError
from fairvision.groups import group_keys

__all__ = ["CHANGES", "EXIT_STATUS", "RunCheck", "Change", "CheckResult", "Finding", "compare_paired", "render",
           "render_markdown", "render_text", "run_check"]

Change = Literal["regression", "inconclusive", "ok", "not_judged"]
CHANGES: tuple[Change, ...] = ("regression", "inconclusive", "ok", "not_judged")
EXIT_STATUS = {"ok": 0, "regression": 1, "inconclusive": 2}  # 3: the check could not run (cli)
REFERENCE = "the reference group"
WITHIN_SEED_NOISE = ("the point Δ is past the margin, but its interval (images and both procedures' seeds) "
                     "reaches below it: within the training noise the seeds measured, not a regression shown")
EVERY = "(every)"  # the group or metric of a finding about a whole partition or group


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
    """The whole check: one ``RunCheck`` per dataset and backbone; ``outcome`` and ``exit_status`` sum it up.

    ``margins_from`` says what the working tree's margins were checked against (``gate``).
    """

    baseline: str
    settings: CheckSettings
    runs: tuple[RunCheck, ...]
    margins_from: str = "params.yaml"

    def of(self, change: Change) -> list[tuple[str, Finding]]:
        return [(b.run, finding) for b in self.runs for finding in b.of(change)]

    @property
    def nothing_judged(self) -> bool:
        """Group fairness was measured somewhere, yet no comparison could be judged: no evidence of no regression."""
        measured = any(b.not_measured is None for b in self.runs)
        return measured and not any(self.of(change) for change in ("regression", "inconclusive", "ok"))

    @property
    def outcome(self) -> Literal["regression", "inconclusive", "ok"]:
        """``regression`` if anything regressed, else ``inconclusive`` if anything is, a run stopped measuring
        group fairness or nothing could be judged, else ``ok``."""
        if self.of("regression"):
            return "regression"
        lost = any(b.lost_measurement for b in self.runs)
        return "inconclusive" if self.of("inconclusive") or lost or self.nothing_judged else "ok"

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
        FairvisionError: naming the file, when an audit is missing or broken, the evaluation sets differ, or
            the working tree's settings loosen the baseline's (``gate.require_not_loosened``).
    """
    margins, params_file, checks = None, "", []
    for run in runs:
        current, baseline = current_audit(run), baseline_audit(rev_or_path, run)
        if not params_file:  # after the first audit, whose error says best what is wrong with --baseline
            margins, params_file = baseline_check(rev_or_path)
        require_same_evaluation_set(baseline, current)
        require_not_loosened(settings, baseline.fairness.settings, baseline.file(FAIRNESS), margins, params_file)
        missing = baseline.no_predictions or current.no_predictions
        if not current.fairness.group_fairness.measured:
            checks.append(RunCheck(run, (), None, None, current.fairness.group_fairness.reason,
                                   lost_measurement=baseline.fairness.group_fairness.measured))
            continue
        if missing:
            paired, findings = None, _unpaired(baseline, current, settings)
        else:
            paired = pair(baseline, current)
            findings = _paired(paired, baseline, current, settings)
        judged = [_still_judged(f, baseline.fairness) for f in findings]
        checks.append(RunCheck(run, (*_lost(baseline.fairness, current.fairness, settings), *judged), paired,
                               missing or None))
    margins_from = (f"params.yaml, not compared: the baseline {params_file}" if margins is None
                    else f"params.yaml, no looser than {params_file}")
    return CheckResult(rev_or_path, settings, tuple(checks), margins_from)


def _lost(baseline: Fairness, current: Fairness, settings: CheckSettings) -> Iterable[Finding]:
    """``inconclusive`` for each partition, outcome framing or group the baseline audited and this audit lacks.

    Dropping an attribute from `protected` or renaming a group would otherwise leave the
    check nothing to compare there, and nothing compared would read as nothing regressed.
    """
    for name, before in baseline.partitions.items():
        now = current.partitions.get(name)
        for outcome, table in before.outcomes.items():
            judged = [g for g, entry in table.groups.items() if entry.status.get("reference") not in
                      (None, "reference", "insufficient_data")]
            if not judged:
                continue
            if now is None or outcome not in now.outcomes:
                what = "partition" if now is None else "outcome framing"
                yield _lost_finding(name, outcome, EVERY, f"the baseline audited this {what} ({len(judged)} groups "
                                    "judged); this audit has none (an attribute dropped from `protected` or "
                                    "`intersections`?)", settings)
                continue
            for group in judged:
                if group not in now.outcomes[outcome].groups:
                    yield _lost_finding(name, outcome, group, "the baseline judged this group; this audit has no "
                                        "such group (renamed, or gone from the data?)", settings)


def _lost_finding(partition: str, outcome: str, group: str, reason: str, settings: CheckSettings) -> Finding:
    margin = settings.difference_margin
    return Finding(partition, outcome, group, EVERY, "inconclusive", math.nan, math.nan, math.nan, math.nan,
                   math.nan, margin, reason)


def _still_judged(finding: Finding, baseline: Fairness) -> Finding:
    """A comparison the baseline audit judged but this check cannot judge becomes ``inconclusive``."""
    if finding.change != "not_judged":
        return finding
    entry = baseline.partitions.get(finding.partition)
    table = entry.outcomes.get(finding.outcome) if entry is not None else None
    group = table.groups.get(finding.group) if table is not None else None
    judged = group.comparisons.get("reference", {}).get(finding.metric) if group is not None else None
    if judged is None or group.status.get("reference") == "insufficient_data" or judged.undefined:
        return finding
    return dataclasses.replace(finding, change="inconclusive",
                               reason=f"the baseline judged it ({judged.verdict}); not judged now: {finding.reason}")


# -- paired: a joint bootstrap of both models' predictions on the same images ---------------------------------

def compare_paired(baseline: AuditFiles, current: AuditFiles, settings: CheckSettings) -> list[Finding]:
    """Every comparison of two audits of the same test images, paired on their prediction tables: the check's
    paired findings for any two models (the report compares a mitigated backbone with its plain one this way).

    Raises:
        FairvisionError: different evaluation sets, or a prediction table that is missing or does not pair.
    """
    require_same_evaluation_set(baseline, current)
    missing = baseline.no_predictions or current.no_predictions
    if missing:
        raise FairvisionError(f"cannot pair {baseline.where} with {current.where}: {missing}")
    return list(_paired(pair(baseline, current), baseline, current, settings))


def _paired(paired: Paired, baseline: AuditFiles, current: AuditFiles, settings: CheckSettings) -> Iterable[Finding]:
    audit = current.fairness
    labels = list(audit.labels)
    outcomes = outcomes_for(labels, audit.favorable_label)
    rows = paired.rows
    sides = {"baseline": paired.baseline_columns, "current": paired.current_columns}
    try:
        truth, *predicted = label_codes(rows, labels, ("label", *sides["baseline"], *sides["current"]))
    except ValueError as error:
        raise FairvisionError(f"{baseline.file(PREDICTIONS)} or {current.file(PREDICTIONS)}: {error} "
                              "(`_baseline` / `_current` say which side)") from None
    split = len(sides["baseline"])
    codes = {"baseline": np.stack(predicted[:split]), "current": np.stack(predicted[split:])}
    # Several seeds on both sides compare two procedures, whose intervals hold training noise: no allowance.
    procedures = min(len(c) for c in codes.values()) > 1
    for name, entry in audit.partitions.items():
        attributes = list(entry.attributes)
        absent = [a for a in attributes if a not in rows.columns]
        if absent:
            raise FairvisionError(f"{current.file(PREDICTIONS)}: no column {', '.join(absent)} for partition {name}")
        keys = group_keys(rows, attributes)
        groups = ordered_groups(attributes, [*keys.unique(), *entry.groups])
        group_codes = category_codes(keys, groups)
        ref = groups.index(entry.reference)
        per_seed = None
        if len(codes["baseline"]) == len(codes["current"]) == 1:
            joint = count_cells(group_codes, [truth, codes["baseline"][0], codes["current"][0]], len(groups),
                                len(labels))  # (G, K, K, K): truth, before, after
            confusion, boot, sizes = _joint_draw(name, joint, ref, labels, outcomes, settings)
        else:
            confusion, boot, sizes, per_seed = _seeds_draw(name, group_codes, truth, codes, len(groups), ref,
                                                             labels, outcomes, settings)
        for outcome in outcomes:
            yield from _paired_outcome(name, outcome, groups, ref, sizes, labels, confusion, boot, settings,
                                       procedures, per_seed)


def _joint_draw(
    name: str, joint: np.ndarray, ref: int, labels: Sequence[str], outcomes: Sequence[Outcome],
    settings: CheckSettings,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """One model per side: the images' joint cells (truth, before, after) resampled within each group.

    Returns each side's confusion counts ``(G, K, K)``, their replicates ``(R, G, K, K)`` and the group sizes.
    """
    k = len(labels)
    flat = joint.reshape(joint.shape[0], -1)
    present = np.flatnonzero(flat.any(axis=0))  # resample only the joint cells that occur: K³ can be large
    counts = flat[:, present]
    sizes = counts.sum(axis=1)
    resamples = _resamples(sizes, ref, outcomes, settings)
    replicates = stratified_resample(counts, resamples, generator(settings.seed, "check", name))
    # Each joint cell (t, before, after) adds to the baseline confusion cell (t, before) and the current one (t, after).
    targets = {"baseline": present // k, "current": (present // (k * k)) * k + present % k}
    confusion = {side: _project(counts, t, k * k).reshape(-1, k, k) for side, t in targets.items()}
    boot = {side: _project(replicates, t, k * k).reshape(resamples, -1, k, k) for side, t in targets.items()}
    return confusion, boot, sizes


def _seeds_draw(
    name: str, group_codes: np.ndarray, truth: np.ndarray, codes: Mapping[str, np.ndarray], n_groups: int, ref: int,
    labels: Sequence[str], outcomes: Sequence[Outcome], settings: CheckSettings,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Several seeds on a side: each side's counts are its seeds' mean, and every replicate draws each group's
    images, shared by both sides and every seed (``bootstrap.seeds_resample``); also each seed's own counts
    ``(K, G, K, K)`` per side, whose spread ``_paired_outcome`` adds to the intervals (``audit.seeds``)."""
    k = len(labels)
    per_seed = {side: np.stack([count_cells(group_codes, [truth, p], n_groups, k) for p in predicted])
                for side, predicted in codes.items()}
    confusion = {side: counts.mean(axis=0) for side, counts in per_seed.items()}
    sizes = np.rint(confusion["current"].reshape(n_groups, -1).sum(axis=1)).astype(np.int64)
    resamples = _resamples(sizes, ref, outcomes, settings)
    drawn = seeds_resample(group_codes, truth, [codes["baseline"], codes["current"]], n_groups, k, resamples,
                           generator(settings.seed, "check", name, "seeds"))
    return confusion, dict(zip(("baseline", "current"), drawn)), sizes, per_seed


def _resamples(sizes: np.ndarray, ref: int, outcomes: Sequence[Outcome], settings: CheckSettings) -> int:
    """Paired replicates enough for the largest table's family (judged groups × events), as the audit sizes its own."""
    if settings.multiple_comparisons == "none":
        return settings.resamples
    judged = int((sizes >= settings.min_group_size).sum()) - 1 if sizes[ref] >= settings.min_group_size else 0
    events = max(int(first_of_each_event(outcome).sum()) for outcome in outcomes)
    return resamples_for(max(judged, 1) * events, settings.level, settings.resamples, MAX_RESAMPLES)


def _paired_outcome(
    name: str, outcome: Outcome, groups: Sequence[str], ref: int, sizes: np.ndarray, labels: Sequence[str],
    confusion: Mapping[str, np.ndarray], boot: Mapping[str, np.ndarray], settings: CheckSettings,
    procedures: bool = False, per_seed: Mapping[str, np.ndarray] | None = None,
) -> Iterable[Finding]:
    """Every comparison of one table: Δ with its paired interval, judged against the margin (and, unless both
    sides are several seeds, ``procedures``, the training-noise allowance). ``per_seed``: each side's seeds'
    own counts, whose spread widens every Δ interval (``audit.seeds.change_half_width``)."""
    metrics = outcome.metrics
    cells = {side: outcome.cells(c, labels) for side, c in confusion.items()}  # (G, 4)
    values = {side: _against_reference(c, ref, metrics) for side, c in cells.items()}  # (G, M)
    delta = _change({side: _for_distance(c, ref, metrics) for side, c in cells.items()}, metrics)  # (G, M)
    large = sizes >= settings.min_group_size
    candidates = [g for g in range(len(groups)) if g != ref and large[g] and large[ref]]  # the rest: too small
    deltas = _replicate_changes(boot, outcome, labels, candidates, ref)  # (J, M, R)
    row = {g: j for j, g in enumerate(candidates)}

    reasons: dict[tuple[int, int], str] = {}
    judged: list[tuple[int, int]] = []
    for g in range(len(groups)):
        if g == ref:
            continue
        for m, metric in enumerate(metrics):
            replicates = deltas[row[g], m] if g in row else None
            reason = _paired_reason(metric, g, ref, sizes, cells, replicates, settings)
            if reason:
                reasons[g, m] = reason
            else:
                judged.append((g, m))
    flat = np.array([row[g] * len(metrics) + m for g, m in judged], dtype=np.int64)
    columns = deltas.reshape(-1, deltas.shape[-1])[flat]  # (judged, R), one metric's replicates per row
    first = first_of_each_event(outcome)
    family = np.array([first[m] for _, m in judged], dtype=bool)  # twins judge the same gap: counted once
    level, found = family_intervals(columns, family, settings.level, settings.multiple_comparisons)
    if per_seed is not None and judged:
        distance = {side: distances_from_parity(_for_distance(outcome.cells(counts, labels), ref, metrics), metrics)
                    for side, counts in per_seed.items()}  # (K, G, M) per side
        rows, columns_m = np.array([g for g, _ in judged]), np.array([m for _, m in judged])
        half = change_half_width(distance["baseline"][:, rows, columns_m], distance["current"][:, rows, columns_m],
                                 settings.level if level.value is None else level.value)
        found = np.stack(widen(delta[rows, columns_m], found[:, 0], found[:, 1], half), axis=1)
    bounds = dict(zip(judged, found))

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
            allowance = 0.0 if procedures else settings.allowance(metric)
            change, reason = judge_change(float(delta[g, m]), float(low), margin, allowance, procedures)
            yield Finding(name, outcome.name, group, metric, change, before, after, float(delta[g, m]),
                          float(low), float(high), margin, reason)


def judge_change(delta: float, low: float, margin: float, allowance: float,
                 procedures: bool = False) -> tuple[Change, str | None]:
    """``regression`` if the Δ interval's lower end is past the margin plus the training-noise allowance;
    ``inconclusive`` if it is past the margin only (with the reason) or, for single training runs, only the
    point is; else ``ok``.

    Where a side is one training run, its Δ holds training randomness that no interval here measured
    (docs/seed-variance.md): a change within that noise cannot be called a regression, and a point past the
    margin cannot be put down to noise either. Where both sides audited several seeds (``procedures``), the
    interval holds the training noise and the allowance is 0; a point past the margin whose interval reaches
    below it is then within the noise both procedures measured: ``ok``, with the reason. (Two sets of seeds of
    one procedure put some small group's point past the margin every time: docs/seed-procedures.md.)"""
    if low > margin + allowance:
        return "regression", None
    if low > margin:
        return "inconclusive", (f"single training run on each side: training noise not measured; within the "
                                f"margin plus the allowance {allowance:.3f} (params.yaml `check.training_noise`; "
                                "audit several seeds, `train.seeds`, to compare procedures instead)")
    if delta <= margin:
        return "ok", None
    if procedures:
        return "ok", WITHIN_SEED_NOISE
    return "inconclusive", None


def _against_reference(cells: np.ndarray, ref: int, metrics: tuple[str, ...]) -> np.ndarray:
    """Every group's metrics against the reference group: cells ``(..., G, 4)`` -> ``(..., G, M)``; NaN if undefined."""
    return compare(cells, cells[..., ref:ref + 1, :], metrics, strict=True)


def _for_distance(cells: np.ndarray, ref: int, metrics: tuple[str, ...]) -> np.ndarray:
    """``_against_reference`` with the ratios' empty cells counted as half an image (Haldane–Anscombe).

    A ratio of 0 would be infinitely far from parity, so a disparate impact falling to 0 would
    have a change without a size; with half an image it is as far as the group's size lets it
    be, and judged by its interval. Differences are unchanged.
    """
    values = _against_reference(cells, ref, metrics)
    ratios = [m for m, metric in enumerate(metrics) if COMPARISONS[metric].kind == "ratio"]
    if ratios:
        corrected = _against_reference(np.where(cells == 0, 0.5, cells), ref, tuple(metrics[m] for m in ratios))
        values[..., ratios] = corrected
    return values


def _replicate_changes(boot: Mapping[str, np.ndarray], outcome: Outcome, labels: Sequence[str],
                       candidates: Sequence[int], ref: int) -> np.ndarray:
    """Δ in every replicate for the groups ``candidates``: ``(J, M, R)`` in float32, one metric's replicates
    contiguous (the layout the interval code reads), as ``_for_distance`` and ``_change`` compute it."""
    metrics = outcome.metrics
    ratios = [m for m, metric in enumerate(metrics) if COMPARISONS[metric].kind == "ratio"]
    distance = {}
    for side, confusion in boot.items():
        cells = outcome.cells(confusion, labels)  # (R, G, 4)
        group = np.ascontiguousarray(np.moveaxis(cells[:, list(candidates)], 1, 0), dtype=np.float32)  # (J, R, 4)
        other = cells[np.newaxis, :, ref].astype(np.float32)  # (1, R, 4)
        values = compare(group, other, metrics, strict=True, dtype=np.float32, axis=1)  # (J, M, R)
        np.abs(values, out=values)
        if ratios:
            half = np.float32(0.5)
            corrected = compare(np.where(group == 0, half, group), np.where(other == 0, half, other),
                                tuple(metrics[m] for m in ratios), strict=True, dtype=np.float32, axis=1)
            with np.errstate(divide="ignore"):
                values[:, ratios] = np.abs(np.log(corrected))
        distance[side] = values
    return distance["current"] - distance["baseline"]


def _change(values: Mapping[str, np.ndarray], metrics: tuple[str, ...]) -> np.ndarray:
    """Δ: the current distance from parity minus the baseline's (NaN where either is undefined)."""
    return distances_from_parity(values["current"], metrics) - distances_from_parity(values["baseline"], metrics)


def _paired_reason(
    metric: str, g: int, ref: int, sizes: np.ndarray, cells: Mapping[str, np.ndarray], deltas: np.ndarray | None,
    settings: CheckSettings,
) -> str | None:
    """Why a comparison cannot be judged (too few images, undefined on either side), or None.

    ``deltas`` are its replicates, None for a group too small to have been resampled for judging.
    """
    if deltas is None or min(sizes[g], sizes[ref]) < settings.min_group_size:
        return (f"fewer than min_group_size {settings.min_group_size} shared images "
                f"(group {int(sizes[g])}, reference {int(sizes[ref])})")
    for side, side_cells in cells.items():
        why = undefined_reason(metric, side_cells[g], side_cells[ref], REFERENCE)
        if why:
            return f"{side}: {why}"
    undefined = float((~np.isfinite(deltas)).mean())
    if undefined > MAX_UNDEFINED_SHARE:
        return f"undefined in {undefined:.0%} of the bootstrap resamples (too few images in a cell it divides by)"
    return None


def _project(counts: np.ndarray, targets: np.ndarray, width: int) -> np.ndarray:
    """Add each joint cell's counts (last axis) into confusion cell ``targets[j]``: ``(..., P)`` -> ``(..., width)``."""
    out = np.zeros((*counts.shape[:-1], width), dtype=counts.dtype)
    for j, target in enumerate(targets):
        out[..., target] += counts[..., j]
    return out


# -- unpaired: the two audits' intervals, compared conservatively --------------------------------------------

def _unpaired(baseline: AuditFiles, current: AuditFiles, settings: CheckSettings) -> Iterable[Finding]:
    procedures = baseline.fairness.seeds.measured and current.fairness.seeds.measured
    for name, entry in current.fairness.partitions.items():
        before_entry = baseline.fairness.partitions.get(name)
        for outcome in current.fairness.outcomes:
            for group, now in entry.outcomes[outcome.name].groups.items():
                if now.status["reference"] == "reference":
                    continue
                then = _baseline_group(before_entry, entry, outcome.name, group)
                for metric in outcome.metrics:
                    yield _unpaired_finding(name, outcome.name, group, metric, then, now, settings, procedures)


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
    settings: CheckSettings, procedures: bool = False,
) -> Finding:
    """One comparison from the two audits' intervals; ``procedures``: both audited several seeds (no allowance)."""
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
    # A ratio of 0 is infinitely far from parity: falling to it is a change up (judged on the nearest end of
    # its interval), rising from it a change down, and 0 on both sides no change at all.
    delta = 0.0 if np.isinf(point).all() else float(point[0] - point[1])
    with np.errstate(invalid="ignore"):
        low, high = near_after - far_before, far_after - near_before
    change, reason = judge_change(delta, low, margin, 0.0 if procedures else settings.allowance(metric), procedures)
    return Finding(partition, outcome, group, metric, change, before, after, delta, low, high, margin, reason)


def _distance_bounds(metric: str, low: float, high: float) -> tuple[float, float]:
    """The nearest and farthest distance from parity of any value in ``[low, high]``."""
    ends = distances_from_parity(np.array([low, high]), (metric,))
    parity = COMPARISONS[metric].parity
    nearest = 0.0 if low <= parity <= high else float(ends.min())
    return nearest, float(ends.max())


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


# -- output --------------------------------------------------------------------------------------------------

NOTHING_JUDGED = ("Nothing could be judged (every comparison is not judged: too few shared images, or undefined), "
                  "so the check cannot show that fairness did not regress: inconclusive.")
HEADLINE = {"regression": "regression", "inconclusive": "inconclusive (no regression shown, but some changes "
            "could not be ruled out)", "ok": "no regression"}
DELTA_NOTE = ("Δ is the change in distance from parity (|d| for a difference, |ln r| for a ratio) with its "
              "interval; a regression is a Δ interval wholly above the margin plus the metric's training-noise "
              "allowance (params.yaml `check`) where a side is a single training run, above the margin alone "
              "where both sides audited several seeds.")


def render(result: CheckResult, form: Literal["text", "markdown"]) -> str:
    """The check's report: ``text`` for a terminal or CI log, ``markdown`` for a pull-request comment."""
    return render_markdown(result) if form == "markdown" else render_text(result)


def render_text(result: CheckResult) -> str:
    """One line per run (how it was compared), per regressed or inconclusive comparison, and a summary."""
    lines = [f"{b.run}: {_mode(b, result.settings)}" for b in result.runs]
    listed = [("REGRESSION", result.of("regression")), ("INCONCLUSIVE", result.of("inconclusive")),
              ("SEED NOISE", _within_seed_noise(result))]
    for label, found in listed:
        for run, f in found:
            lines.append(f"{label:<12} {run} · {f.partition} · {f.outcome} · {f.group} · {f.metric}: "
                         + (f"{f.reason}" if f.metric == EVERY or math.isnan(f.delta) else
                            f"{_value(f.baseline)} → {_value(f.current)}, Δ {f.delta:+.3f} "
                            f"[{f.low:+.3f}, {f.high:+.3f}], margin {f.margin:.3f}"
                            + (f" ({f.reason})" if f.reason and label != "SEED NOISE" else "")))
    if result.nothing_judged:
        lines.append(NOTHING_JUDGED)
    lines.append(f"margins from {result.margins_from}")
    lines.append(f"fairvision check: {HEADLINE[result.outcome]}: {_counts(result)} "
                 f"against baseline {result.baseline}")
    return "\n".join(lines) + "\n"


def render_markdown(result: CheckResult) -> str:
    """A pull-request comment: the outcome as heading, how each run was compared, tables of findings."""
    icon = {"regression": "❌", "inconclusive": "⚠️", "ok": "✅"}[result.outcome]
    out = [f"## {icon} Fairness check: {HEADLINE[result.outcome]}", "",
           f"Against baseline `{result.baseline}`: {_counts(result)}. Margins from `{result.margins_from}`.", "",
           *([NOTHING_JUDGED, ""] if result.nothing_judged else []),
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
                "| Dataset / backbone | Partition | Outcome | Group | Metric | Baseline | Current | Δ | Interval "
                "| Margin | Why |",
                "|---|---|---|---|---|---:|---:|---:|---|---:|---|"]
        out += [_row(run, f.partition, f.outcome, f.group, f.metric, *_figures(f), f.reason or "") for run, f in found]
    not_judged = _not_judged_groups(result)
    if not_judged:
        out += ["", f"<details><summary>Not judged ({len(result.of('not_judged'))} comparisons)</summary>", "",
                "| Dataset / backbone | Partition | Outcome | Group | Metrics | Reason |", "|---|---|---|---|---|---|"]
        out += [_row(*key, metrics[0] if len(metrics) == 1 else f"{len(metrics)} metrics", reason)
                for (*key, reason), metrics in not_judged.items()]
        out += ["", "</details>"]
    noise = _within_seed_noise(result)
    if noise:
        out += ["", f"<details><summary>Within the seeds' noise ({len(noise)} comparisons: point Δ past the margin, "
                "interval reaching below it; ok)</summary>", "",
                "| Dataset / backbone | Partition | Outcome | Group | Metric | Baseline | Current | Δ | Interval "
                "| Margin |", "|---|---|---|---|---|---:|---:|---:|---|---:|"]
        out += [_row(run, f.partition, f.outcome, f.group, f.metric, *_figures(f)) for run, f in noise]
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
        seeds = len(p.baseline_columns), len(p.current_columns)
        noise = ("training noise in the intervals (both sides several seeds: procedures compared, no allowance)"
                 if min(seeds) > 1 else "training noise not measured on a single-seed side: allowances apply")
        return (f"paired bootstrap over {seeds[0]} baseline and {seeds[1]} current seed(s), {noise}, "
                f"on {p.shared} shared image ids ({p.only_baseline} only in the baseline, "
                f"{p.only_current} only in the current audit), at least {settings.resamples} resamples (more where "
                f"a table's family needs them), {settings.level:.0%} {settings.multiple_comparisons} intervals")
    return (f"unpaired ({check.unpaired_reason}): compared the two audits' intervals, which is conservative: "
            "a regression must show between the intervals' far ends, so smaller ones go unnoticed")


def _counts(result: CheckResult) -> str:
    n = {change: len(result.of(change)) for change in CHANGES}
    noise = len(_within_seed_noise(result))
    ok = f"{n['ok']} ok" + (f" ({noise} of them past the margin at the point, within the seeds' noise)" if noise else "")
    return (f"{n['regression']} regressed, {n['inconclusive']} inconclusive, {ok} "
            f"of {n['regression'] + n['inconclusive'] + n['ok']} comparisons checked; {n['not_judged']} not judged")


def _within_seed_noise(result: CheckResult) -> list[tuple[str, Finding]]:
    """``ok`` comparisons of two procedures whose point Δ is past the margin: listed, never a verdict."""
    return [(run, f) for run, f in result.of("ok") if f.reason == WITHIN_SEED_NOISE]


def _not_judged_groups(result: CheckResult) -> dict[tuple[str, ...], list[str]]:
    """Not-judged metrics per (run, partition, outcome, group, reason), in report order: one row each."""
    grouped: dict[tuple[str, ...], list[str]] = {}
    for run, f in result.of("not_judged"):
        grouped.setdefault((run, f.partition, f.outcome, f.group, f.reason or ""), []).append(f.metric)
    return grouped


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _figures(f: Finding) -> tuple[str, ...]:
    """Baseline, current, Δ, interval and margin cells; dashes for a finding about what is missing."""
    if f.metric == EVERY:
        return ("—",) * 5
    interval = "—" if math.isnan(f.low) else f"[{f.low:+.3f}, {f.high:+.3f}]"
    return _value(f.baseline), _value(f.current), _value(f.delta, "+.3f"), interval, f"{f.margin:.3f}"


def _value(x: float, form: str = ".3f") -> str:
    """A number for the report; NaN (undefined, or nothing to show) as a word, ±inf as ±∞."""
    if math.isnan(x):
        return "undefined"
    return format(x, form) if math.isfinite(x) else ("+∞" if x > 0 else "−∞")
