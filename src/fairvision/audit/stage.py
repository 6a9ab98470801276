"""Stage `audit@<backbone>`: predictions.parquet -> fairness.json (the DVC metrics file).

Reads the predictions, the datasheet (labels, target) and the manifest (who is in train,
for the reference groups and for groups missing from the test split), audits every
protected attribute and configured intersection, cross-checks the published point
estimates against AIF360, and writes fairness.json atomically.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from fairvision.audit import serialize
from fairvision.audit.bootstrap import generator, stratified_resample
from fairvision.audit.crosscheck import crosscheck
from fairvision.audit.engine import PartitionResult, Settings, audit_partition
from fairvision.audit.intervals import percentile_intervals
from fairvision.audit.measures import COMPARISONS, smoothed_edf
from fairvision.audit.outcomes import Outcome, outcomes_for
from fairvision.audit.partitions import build_partition, group_keys
from fairvision.audit.summary import summarize
from fairvision.audit.verdicts import Band
from fairvision.audit.vocabulary import partition_name
from fairvision.errors import FairvisionError
from fairvision.files import require, write_json
from fairvision.params import Audit

log = logging.getLogger(__name__)

MULTIPLE_COMPARISONS_FAMILY = ("one table: every judged group × metric of one partition, outcome framing and "
                               "comparison (against the reference group, or against the rest)")


def resolve_reference(setting: str, name: str, train_sizes: Mapping[str, int]) -> tuple[str, str]:
    """The reference group and why it was chosen; ``auto`` = the largest group in train (ties: natural order)."""
    if setting != "auto":
        return setting, f"set in params.yaml (`audit.reference.{name}`)"
    if not train_sizes:
        raise FairvisionError(f"`audit.reference.{name}` is auto, but train has no rows to pick the largest group")
    largest = max(train_sizes.values())
    chosen = next(group for group, n in train_sizes.items() if n == largest)
    return chosen, f"largest {name} group in train ({largest} images); `auto` in params.yaml"


def audit(
    backbone: str,
    predictions_path: str | Path,
    prepared_dir: str | Path,
    protected: Sequence[str],
    params: Audit,
    out_path: str | Path,
) -> None:
    """Audit every protected attribute and intersection of the predictions; write fairness.json."""
    prepared_dir = Path(prepared_dir)
    predictions = pd.read_parquet(require(predictions_path, f"evaluate {backbone}"))
    datasheet = json.loads(require(prepared_dir / "datasheet.json", "prepare").read_text(encoding="utf-8"))
    manifest = pd.read_parquet(require(prepared_dir / "manifest.parquet", "prepare"))
    train = manifest[manifest["split"] == "train"]
    labels = datasheet["labels"]
    favorable = labels[0] if params.favorable_label == "auto" else params.favorable_label
    if favorable not in labels:
        raise FairvisionError(
            f"params.yaml: `audit.favorable_label` {favorable!r} is not a label; labels: {', '.join(labels)}")
    outcomes = outcomes_for(labels, favorable)
    settings = _settings(params)

    results: list[PartitionResult] = []
    partitions = {}
    for attributes in [(attribute,) for attribute in protected] + [tuple(i) for i in params.intersections]:
        name = partition_name(attributes)
        train_sizes = group_keys(train, attributes).value_counts().to_dict()
        try:
            partition = build_partition(predictions, attributes, labels, known_groups=train_sizes)
        except ValueError as error:
            raise FairvisionError(f"{predictions_path}: {error}") from None
        train_sizes = {group: int(train_sizes.get(group, 0)) for group in partition.groups}
        reference, reason = resolve_reference(params.reference.get(name, "auto"), name, train_sizes)
        try:
            result = audit_partition(partition, outcomes, reference, reason, train_sizes, settings)
        except ValueError as error:
            raise FairvisionError(f"params.yaml `audit.reference.{name}`: {error}") from None
        crosscheck(predictions, attributes, partition, outcomes, result)
        results.append(result)
        partitions[name] = serialize.partition(result, dict(zip(partition.groups, partition.sizes.tolist())))
        _log_partition(backbone, result, outcomes[0])

    report: dict[str, Any] = {
        "schema_version": serialize.SCHEMA_VERSION,
        "backbone": backbone,
        "dataset": datasheet["dataset"],
        "target": datasheet["target"],
        "labels": labels,
        "favorable_label": favorable,
        "n": len(predictions),
        "accuracy": serialize.number(float((predictions["label"] == predictions["pred"]).mean())),
        "settings": {
            "min_group_size": params.min_group_size,
            "bootstrap": {"resamples": params.bootstrap.resamples, "seed": params.bootstrap.seed,
                          "level": params.bootstrap.level, "stratified_by": "group (each group keeps its size)"},
            "multiple_comparisons": {"method": params.multiple_comparisons, "family": MULTIPLE_COMPARISONS_FAMILY},
            "tolerance": {name: list(band) for name, band in params.tolerance.items()},
        },
        "outcomes": [{"name": o.name, "label": o.label, "description": o.description, "metrics": list(o.metrics)}
                     for o in outcomes],
        "summary": summarize(results, outcomes),
        "partitions": partitions,
        "differential_fairness": _differential_fairness(predictions, protected, labels, outcomes, params),
    }
    write_json(out_path, report)


def _settings(params: Audit) -> Settings:
    return Settings(
        min_group_size=params.min_group_size,
        resamples=params.bootstrap.resamples,
        seed=params.bootstrap.seed,
        level=params.bootstrap.level,
        multiple_comparisons=params.multiple_comparisons,  # type: ignore[arg-type]  # validated in params
        bands={name: Band(*params.tolerance[name]) for name in COMPARISONS},
    )


def _differential_fairness(
    predictions: pd.DataFrame, protected: Sequence[str], labels: Sequence[str], outcomes: Sequence[Outcome],
    params: Audit,
) -> dict[str, Any]:
    """Smoothed empirical differential fairness of the predictions over every intersection of the protected attributes."""
    partition = build_partition(predictions, protected, labels)
    present = partition.counts[partition.sizes > 0]
    replicates = stratified_resample(present, params.bootstrap.resamples,
                                     generator(params.bootstrap.seed, "differential_fairness"))
    values = {}
    for outcome in outcomes:
        point = smoothed_edf(outcome.cells(present, labels))
        samples = smoothed_edf(outcome.cells(replicates, labels))
        low, high = percentile_intervals(samples.reshape(-1, 1), params.bootstrap.level)[0]
        values[outcome.name] = {"value": serialize.number(point), "ci": [serialize.number(low), serialize.number(high)]}
    return {"attributes": list(protected), "concentration": 1.0, "groups": len(present), "outcomes": values}


def _log_partition(backbone: str, result: PartitionResult, headline: Outcome) -> None:
    groups = result.outcomes[headline.name].groups
    failing = [name for name, group in groups.items() if group.status.get("reference") == "fail"]
    log.info("%s %s (%s): reference %s, fail: %s", backbone, result.name, headline.name, result.reference,
             ", ".join(failing) or "none")

