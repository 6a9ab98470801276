"""``fairness.json`` read back into frozen, typed records: the one reader of an audit's serialization.

The audit writes fairness.json (``serialize``); the report and the `fairvision check` gate
both read it. Parsing it once, here, means neither walks nested dicts by hand: every key
they rely on is checked up front and every error names the file (or git revision) and the
dotted key at fault, so the user knows which audit to regenerate. The generic walker
(``JsonReader``, ``read_json``) is core (``fairvision.jsonread``), shared with the reader of
explanations.json. Beyond the standard library only the audit's vocabulary and metric tables
are imported, so check and report stay light (no pandas, TensorFlow or AIF360).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from fairvision.audit.measures import COMPARISONS, RATES
from fairvision.audit.vocabulary import AGAINST, STATUSES, VERDICTS, Status, Verdict
from fairvision.errors import FairvisionError
from fairvision.jsonread import Estimate, JsonReader, read_json, require_keys
from fairvision.params import METHODS

__all__ = ["SCHEMA_VERSION", "AuditSettings", "DifferentialFairness", "Estimate", "Failing", "Fairness", "Framing",
           "GroupAudit", "GroupFairness", "Judged", "LabelPerformance", "OutcomeAudit", "PartitionAudit", "SeedRun",
           "Seeds", "Spread", "parse_fairness", "read_fairness"]

SCHEMA_VERSION = 5  # written by the audit stage; any other version is refused with the command that rewrites it


@dataclasses.dataclass(frozen=True)
class Spread:
    """One number across the audited training seeds: each seed's value (None where undefined), mean and SD."""

    values: tuple[float | None, ...]
    mean: float | None
    sd: float | None
    fails: int | None = None  # for a comparison: how many seeds' own audits fail it


@dataclasses.dataclass(frozen=True)
class Judged:
    """One comparison of a group: its estimate, verdict, the verdict's one-sentence reason, and why undefined."""

    estimate: Estimate
    verdict: Verdict
    explanation: str
    undefined: str | None
    aif360_value: float | None = None  # AIF360's number (a conventional 0 where the metric is undefined)
    seeds: Spread | None = None  # across seeds, where several were audited as one procedure


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """One training seed's own audit, in brief (verdict and failing count only where several seeds were audited)."""

    seed: int
    accuracy: float | None
    verdict: Verdict | None
    failing: int | None


@dataclasses.dataclass(frozen=True)
class Seeds:
    """The training seeds behind the audit; with one, training variance was not measured (``reason`` says so)."""

    values: tuple[int, ...]
    measured: bool
    how: str | None
    reason: str | None
    accuracy: Spread
    runs: tuple[SeedRun, ...]


@dataclasses.dataclass(frozen=True)
class GroupAudit:
    """One group in one outcome table: size, status per comparison, rates, comparisons (absent when not judged)."""

    n: int
    status: Mapping[str, Status]
    rates: Mapping[str, Estimate]
    comparisons: Mapping[str, Mapping[str, Judged]]  # against -> metric -> judged
    rate_seeds: Mapping[str, Spread] = dataclasses.field(default_factory=dict)  # rate -> spread (several seeds)


@dataclasses.dataclass(frozen=True)
class OutcomeAudit:
    """One partition under one outcome framing: its groups and the partition-wide inequality indices."""

    interval_level: Mapping[str, float | None]
    at_ceiling: Mapping[str, bool]  # against -> the level was capped by the resamples (not calibrated)
    theil_index: Estimate
    between_group_theil_index: Estimate
    groups: Mapping[str, GroupAudit]


@dataclasses.dataclass(frozen=True)
class PartitionAudit:
    """One attribute or intersection: its groups, its reference group (and why), one table per outcome framing."""

    attributes: tuple[str, ...]
    groups: tuple[str, ...]  # in the audit's order, train groups absent from the test split included
    reference: str
    reference_reason: str
    outcomes: Mapping[str, OutcomeAudit]


@dataclasses.dataclass(frozen=True)
class Framing:
    """An outcome framing of the target (``Female`` one-vs-rest, ``correct``) and the metrics that apply to it."""

    name: str
    description: str
    metrics: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Failing:
    """A group that fails at least one metric in one table (partition, outcome, against)."""

    partition: str
    outcome: str
    against: str
    group: str
    metrics: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class AuditSettings:
    """How intervals and verdicts were made, for the report to state next to them."""

    min_group_size: int
    resamples: int
    level: float
    stratified_by: str
    per_label_stratified_by: str
    method: str
    family: str
    tolerance: Mapping[str, tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class DifferentialFairness:
    """Smoothed empirical differential fairness over the intersections of ``attributes``, per outcome."""

    attributes: tuple[str, ...]
    groups: int
    concentration: float
    outcomes: Mapping[str, Estimate]
    interval: str  # how the interval was made (one-sided: ε is a maximum, which resampling inflates)


@dataclasses.dataclass(frozen=True)
class LabelPerformance:
    """One label: its test images (those with it as true label) and its scores, each with its interval."""

    n: int
    precision: Estimate
    recall: Estimate
    f1: Estimate


@dataclasses.dataclass(frozen=True)
class GroupFairness:
    """Whether group fairness was measured at all; ``reason`` says why not (e.g. no protected attributes)."""

    measured: bool
    reason: str | None


@dataclasses.dataclass(frozen=True)
class Fairness:
    """``audits/<B>/fairness.json`` (schema_version 3), checked and typed. ``outcomes[0]`` is the headline.

    Where group fairness was not measured, ``partitions`` is empty and ``verdict`` and
    ``differential_fairness`` are None: nothing was judged, which is not a pass.
    """

    dataset: str
    target: str
    labels: tuple[str, ...]
    favorable_label: str
    n: int
    accuracy: float | None
    seeds: Seeds
    settings: AuditSettings
    outcomes: tuple[Framing, ...]
    per_label: Mapping[str, LabelPerformance]  # in the audit's label order
    group_fairness: GroupFairness
    verdict: Verdict | None
    verdict_reason: str | None  # why the verdict is inconclusive when nothing could be judged
    failing: tuple[Failing, ...]
    partitions: Mapping[str, PartitionAudit]
    differential_fairness: DifferentialFairness | None

    @property
    def headline(self) -> Framing:
        return self.outcomes[0]


def read_fairness(path: str | os.PathLike[str]) -> Fairness:
    """Read and parse a fairness.json file; see ``parse_fairness``."""
    path = Path(path)
    return parse_fairness(read_json(path, ()), str(path))


def parse_fairness(data: Any, source: str) -> Fairness:
    """Check and type the parsed JSON of a fairness.json; ``source`` names it in errors (a path, or rev:path).

    Raises:
        FairvisionError: naming ``source`` and the dotted key, for another schema version or a missing or
            malformed key.
    """
    require_keys(data, (), source, "")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise FairvisionError(f"{source}: `schema_version` is {version!r}, fairvision needs {SCHEMA_VERSION}; "
                              "rerun `fairvision audit` (or `dvc repro`) to rewrite it")
    return _FairnessReader(source).fairness(data)


class _FairnessReader(JsonReader):
    """Walks fairness.json once."""

    def fairness(self, data: dict[str, Any]) -> Fairness:
        require_keys(data, ("dataset", "target", "labels", "favorable_label", "n", "accuracy", "seeds", "settings",
                            "outcomes",
                        "per_label", "group_fairness", "summary", "partitions", "differential_fairness"),
                 self.source, "")
        settings = self.settings(data["settings"])
        outcomes = tuple(self.framing(outcome, f"outcomes.{i}", settings)
                         for i, outcome in enumerate(self.sequence(data, "outcomes")))
        if not outcomes:
            raise FairvisionError(f"{self.source}: `outcomes` is empty; the first outcome is the report's headline")
        summary = self.mapping(data["summary"], "summary", ("verdict", "failing"))
        group_fairness = self.group_fairness(data["group_fairness"])
        measured = group_fairness.measured
        if not measured:
            self.require_unmeasured(data, summary)
        return Fairness(
            dataset=data["dataset"], target=data["target"], labels=tuple(data["labels"]),
            favorable_label=data["favorable_label"], n=self.number(data["n"], "n"),
            accuracy=self.number(data["accuracy"], "accuracy", nullable=True),
            seeds=self.seeds(data["seeds"]), settings=settings, outcomes=outcomes,
            per_label=self.per_label(data["per_label"], tuple(data["labels"])),
            group_fairness=group_fairness,
            verdict=self.word(summary["verdict"], VERDICTS, "summary.verdict") if measured else None,
            verdict_reason=summary.get("verdict_reason"),
            failing=tuple(self.failing(failing, f"summary.failing.{i}")
                          for i, failing in enumerate(self.sequence(summary, "failing"))),
            partitions={name: self.partition(p, f"partitions.{name}", outcomes)
                        for name, p in self.mapping(data["partitions"], "partitions").items()},
            differential_fairness=(self.differential_fairness(data["differential_fairness"], outcomes)
                                   if measured else None),
        )

    def seeds(self, data: Any) -> Seeds:
        where = "seeds"
        data = self.mapping(data, where, ("values", "training_variance", "accuracy", "per_seed"))
        variance = self.mapping(data["training_variance"], f"{where}.training_variance", ("measured", "how", "reason"))
        values = tuple(self.number(v, f"{where}.values") for v in self.sequence(data, "values", where))
        measured = self.flag(variance["measured"], f"{where}.training_variance.measured")
        if not values or measured != (len(values) > 1):
            raise FairvisionError(f"{self.source}: `{where}.training_variance.measured` must be true exactly when "
                                  f"several seeds are listed; got {measured!r} for {list(values)}")
        runs = []
        for i, run in enumerate(self.sequence(data, "per_seed", where)):
            at = f"{where}.per_seed.{i}"
            run = self.mapping(run, at, ("seed", "accuracy", "verdict", "failing"))
            runs.append(SeedRun(seed=self.number(run["seed"], f"{at}.seed"),
                                accuracy=self.number(run["accuracy"], f"{at}.accuracy", nullable=True),
                                verdict=None if run["verdict"] is None else self.word(run["verdict"], VERDICTS,
                                                                                      f"{at}.verdict"),
                                failing=self.number(run["failing"], f"{at}.failing", nullable=True)))
        return Seeds(values=values, measured=measured, how=variance["how"], reason=variance["reason"],
                     accuracy=self.spread(data["accuracy"], f"{where}.accuracy"), runs=tuple(runs))

    def spread(self, data: Any, where: str) -> Spread:
        data = self.mapping(data, where, ("values", "mean", "sd"))
        return Spread(values=tuple(self.number(v, f"{where}.values", nullable=True)
                                   for v in self.sequence(data, "values", where)),
                      mean=self.number(data["mean"], f"{where}.mean", nullable=True),
                      sd=self.number(data["sd"], f"{where}.sd", nullable=True),
                      fails=self.number(data.get("fails"), f"{where}.fails", nullable=True))

    def group_fairness(self, data: Any) -> GroupFairness:
        data = self.mapping(data, "group_fairness", ("measured", "reason"))
        measured, reason = data["measured"], data["reason"]
        if not isinstance(measured, bool):
            raise FairvisionError(f"{self.source}: `group_fairness.measured` must be true or false, got {measured!r}")
        if measured != (reason is None) or not (reason is None or isinstance(reason, str)):
            raise FairvisionError(f"{self.source}: `group_fairness.reason` must be null when measured, and say why "
                                  f"not otherwise; got {reason!r}")
        return GroupFairness(measured, reason)

    def require_unmeasured(self, data: dict[str, Any], summary: dict[str, Any]) -> None:
        """Where group fairness was not measured, nothing may claim a measurement."""
        claims = {"partitions": data["partitions"], "summary.verdict": summary["verdict"],
                  "summary.failing": summary["failing"], "differential_fairness": data["differential_fairness"]}
        found = [key for key, value in claims.items() if value not in (None, {}, [])]
        if found:
            raise FairvisionError(f"{self.source}: `group_fairness.measured` is false, yet "
                                  f"{', '.join(f'`{key}`' for key in found)} hold(s) results")

    def per_label(self, data: Any, labels: tuple[str, ...]) -> dict[str, LabelPerformance]:
        data = self.mapping(data, "per_label", labels)
        return {label: self.label_performance(data[label], f"per_label.{label}") for label in labels}

    def label_performance(self, data: Any, where: str) -> LabelPerformance:
        data = self.mapping(data, where, ("n", "precision", "recall", "f1"))
        return LabelPerformance(n=self.number(data["n"], f"{where}.n"),
                                precision=self.estimate(data["precision"], f"{where}.precision"),
                                recall=self.estimate(data["recall"], f"{where}.recall"),
                                f1=self.estimate(data["f1"], f"{where}.f1"))

    def settings(self, data: Any) -> AuditSettings:
        data = self.mapping(data, "settings", ("min_group_size", "bootstrap", "multiple_comparisons", "tolerance"))
        bootstrap = self.mapping(data["bootstrap"], "settings.bootstrap",
                                 ("resamples", "level", "stratified_by", "per_label_stratified_by"))
        multiple = self.mapping(data["multiple_comparisons"], "settings.multiple_comparisons", ("method", "family"))
        tolerance = self.mapping(data["tolerance"], "settings.tolerance")
        for metric in tolerance:
            self.word(metric, tuple(COMPARISONS), "settings.tolerance")
        return AuditSettings(
            min_group_size=self.number(data["min_group_size"], "settings.min_group_size"),
            resamples=self.number(bootstrap["resamples"], "settings.bootstrap.resamples"),
            level=self.number(bootstrap["level"], "settings.bootstrap.level"),
            stratified_by=bootstrap["stratified_by"], per_label_stratified_by=bootstrap["per_label_stratified_by"],
            method=self.word(multiple["method"], METHODS, "settings.multiple_comparisons.method"),
            family=multiple["family"],
            tolerance={metric: (band[0], band[1]) for metric, band in tolerance.items()},
        )

    def framing(self, data: Any, where: str, settings: AuditSettings) -> Framing:
        data = self.mapping(data, where, ("name", "description", "metrics"))
        metrics = tuple(self.sequence(data, "metrics", where))
        for metric in metrics:
            self.word(metric, tuple(settings.tolerance), f"{where}.metrics (metrics with a tolerance)")
        return Framing(name=data["name"], description=data["description"], metrics=metrics)

    def failing(self, data: Any, where: str) -> Failing:
        data = self.mapping(data, where, ("partition", "outcome", "against", "group", "metrics"))
        return Failing(partition=data["partition"], outcome=data["outcome"],
                       against=self.word(data["against"], AGAINST, f"{where}.against"),
                       group=data["group"], metrics=tuple(self.sequence(data, "metrics", where)))

    def partition(self, data: Any, where: str, framings: tuple[Framing, ...]) -> PartitionAudit:
        data = self.mapping(data, where, ("attributes", "groups", "reference", "reference_reason", "outcomes"))
        outcomes = self.mapping(data["outcomes"], f"{where}.outcomes", tuple(f.name for f in framings))
        return PartitionAudit(
            attributes=tuple(data["attributes"]), groups=tuple(self.mapping(data["groups"], f"{where}.groups")),
            reference=data["reference"],
            reference_reason=data["reference_reason"],
            outcomes={f.name: self.outcome(outcomes[f.name], f"{where}.outcomes.{f.name}", f, data["reference"])
                      for f in framings},
        )

    def outcome(self, data: Any, where: str, framing: Framing, reference: str) -> OutcomeAudit:
        data = self.mapping(data, where, ("interval_level", "interval_resolution", "theil_index",
                                          "between_group_theil_index", "groups"))
        groups = self.mapping(data["groups"], f"{where}.groups", (reference,))
        levels = self.mapping(data["interval_level"], f"{where}.interval_level", AGAINST)
        resolution = self.mapping(data["interval_resolution"], f"{where}.interval_resolution", AGAINST)
        return OutcomeAudit(
            interval_level={against: self.number(levels[against], f"{where}.interval_level.{against}", nullable=True)
                            for against in AGAINST},
            at_ceiling={against: self.flag(self.mapping(resolution[against], f"{where}.interval_resolution.{against}",
                                                        ("at_ceiling",))["at_ceiling"],
                                           f"{where}.interval_resolution.{against}.at_ceiling")
                        for against in AGAINST},
            theil_index=self.estimate(data["theil_index"], f"{where}.theil_index"),
            between_group_theil_index=self.estimate(data["between_group_theil_index"],
                                                    f"{where}.between_group_theil_index"),
            groups={name: self.group(group, f"{where}.groups.{name}", framing) for name, group in groups.items()},
        )

    def group(self, data: Any, where: str, framing: Framing) -> GroupAudit:
        data = self.mapping(data, where, ("n", "status", "rates"))
        status = self.mapping(data["status"], f"{where}.status", AGAINST)
        status = {against: self.word(status[against], STATUSES, f"{where}.status.{against}") for against in AGAINST}
        rates = self.mapping(data["rates"], f"{where}.rates", tuple(RATES))
        judged = [against for against in AGAINST if status[against] not in ("reference", "insufficient_data")]
        return GroupAudit(
            n=self.number(data["n"], f"{where}.n"), status=status,
            rates={name: self.estimate(rates[name], f"{where}.rates.{name}") for name in RATES},
            comparisons={against: self.comparisons(data, f"vs_{against}", where, framing) for against in judged},
            rate_seeds={name: self.spread(rates[name]["seeds"], f"{where}.rates.{name}.seeds") for name in RATES
                        if "seeds" in rates[name]},
        )

    def comparisons(self, data: dict[str, Any], key: str, where: str, framing: Framing) -> dict[str, Judged]:
        require_keys(data, (key,), self.source, where)
        metrics = self.mapping(data[key], f"{where}.{key}", framing.metrics)
        return {metric: self.judged(metrics[metric], f"{where}.{key}.{metric}") for metric in framing.metrics}

    def judged(self, data: Any, where: str) -> Judged:
        data = self.mapping(data, where, ("verdict", "explanation"))
        undefined = data.get("undefined")
        estimate = self.estimate(data, where)
        if undefined is None and estimate.value is None:
            raise FairvisionError(f"{self.source}: `{where}.value` is null but no `undefined` reason says why")
        return Judged(estimate=estimate, verdict=self.word(data["verdict"], VERDICTS, f"{where}.verdict"),
                      explanation=data["explanation"], undefined=undefined,
                      aif360_value=self.number(data.get("aif360_value"), f"{where}.aif360_value", nullable=True),
                      seeds=self.spread(data["seeds"], f"{where}.seeds") if "seeds" in data else None)

    def differential_fairness(self, data: Any, framings: tuple[Framing, ...]) -> DifferentialFairness:
        where = "differential_fairness"
        data = self.mapping(data, where, ("attributes", "groups", "concentration", "outcomes", "interval"))
        outcomes = self.mapping(data["outcomes"], f"{where}.outcomes", (framings[0].name,))
        return DifferentialFairness(
            attributes=tuple(data["attributes"]), groups=data["groups"], concentration=data["concentration"],
            interval=data["interval"],
            outcomes={name: self.estimate(value, f"{where}.outcomes.{name}") for name, value in outcomes.items()},
        )
