"""Stage `audit@<backbone>`: predictions.parquet -> fairness.json (the DVC metrics file).

Reads the predictions, the datasheet (labels, target) and the manifest (who is in train,
for the reference groups and for groups missing from the test split), reports every
label's performance, audits every protected attribute and configured intersection,
cross-checks the published point estimates against AIF360, and writes fairness.json
atomically. A dataset without protected attributes gets per-label performance only, and
fairness.json says why group fairness was not measured instead of an empty, passing audit.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from fairvision.audit import serialize
from fairvision.audit.bootstrap import generator, stratified_resample
from fairvision.audit.crosscheck import crosscheck
from fairvision.audit.engine import PartitionResult, Settings, audit_table
from fairvision.audit.intervals import percentile_intervals
from fairvision.audit.measures import COMPARISONS, smoothed_edf
from fairvision.audit.outcomes import Outcome
from fairvision.audit.partitions import build_partition, count_cells, label_codes
from fairvision.audit.performance import STRATIFIED_BY, per_label
from fairvision.audit.headline import group_bars, headline
from fairvision.audit.record import SCHEMA_VERSION, parse_fairness
from fairvision.audit.summary import summarize
from fairvision.audit.verdicts import Band
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, require, write_json
from fairvision.params import Audit, Dataset

log = logging.getLogger(__name__)

MULTIPLE_COMPARISONS_FAMILY = ("one table: every comparison judged by its interval (groups and metrics with "
                               "enough data) of one partition, outcome framing and kind of comparison "
                               "(against the reference group, or against the rest)")
NO_PROTECTED = ("No protected attributes: the dataset's `protected` list in params.yaml is empty (it has no "
                "attribute table; give one with its `attributes` key), so no group fairness can be measured. Only "
                "per-label performance is reported.")


def audit(
    backbone: str,
    predictions_path: str | Path,
    prepared_dir: str | Path,
    dataset: Dataset,
    params: Audit,
    out_path: str | Path,
    *,
    groups_dir: str | Path | None = None,
) -> None:
    """Audit every protected attribute and intersection of ``dataset``; write fairness.json and headline.json
    beside it.

    ``groups_dir`` (the pipeline's `groups/<B>/`) receives the per-group accuracy bars for
    `dvc plots`; None writes none.
    """
    prepared_dir, protected = Path(prepared_dir), dataset.protected
    predictions = pd.read_parquet(require(predictions_path, f"evaluate {backbone}"))
    datasheet = json.loads(require(prepared_dir / "datasheet.json", "prepare").read_text(encoding="utf-8"))
    manifest = pd.read_parquet(require(prepared_dir / "manifest.parquet", "prepare"))
    train = manifest[manifest["split"] == "train"]
    labels = datasheet["labels"]
    favorable = labels[0] if params.favorable_label == "auto" else params.favorable_label
    if favorable not in labels:
        raise FairvisionError(
            f"params.yaml: `audit.favorable_label` {favorable!r} is not a label; labels: {', '.join(labels)}")
    try:
        performance = per_label(_confusion(predictions, labels), labels, resamples=params.bootstrap.resamples,
                                seed=params.bootstrap.seed, level=params.bootstrap.level)
        run = audit_table(predictions, train, labels, favorable, protected, dataset.intersections, dataset.reference,
                          _settings(params), dataset.key("reference"))
    except ValueError as error:
        raise FairvisionError(f"{predictions_path}: {error}") from None
    if not protected:
        log.info("%s: %s", backbone, NO_PROTECTED)
    for partition, result in zip(run.partitions, run.results):
        crosscheck(predictions, partition, run.outcomes, result)
        _log_partition(backbone, result, run.outcomes[0])
    outcomes = run.outcomes

    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "backbone": backbone,
        "dataset": datasheet["dataset"],
        "target": datasheet["target"],
        "labels": labels,
        "favorable_label": favorable,
        "n": len(predictions),
        "accuracy": serialize.number(float((predictions["label"] == predictions["pred"]).mean())),
        "settings": {
            "min_group_size": params.min_group_size,
            "min_events": params.min_events,
            "bootstrap": {"resamples": params.bootstrap.resamples, "seed": params.bootstrap.seed,
                          "level": params.bootstrap.level, "stratified_by": "group (each group keeps its size)",
                          "per_label_stratified_by": STRATIFIED_BY},
            "multiple_comparisons": {"method": params.multiple_comparisons, "family": MULTIPLE_COMPARISONS_FAMILY},
            "tolerance": {name: list(band) for name, band in params.tolerance.items()},
        },
        "outcomes": [{"name": o.name, "label": o.label, "description": o.description, "metrics": list(o.metrics)}
                     for o in outcomes],
        "per_label": serialize.per_label(performance),
        "group_fairness": {"measured": bool(protected), "reason": None if protected else NO_PROTECTED},
        "summary": summarize(run.results, outcomes),
        "partitions": {result.name: serialize.partition(result) for result in run.results},
        "differential_fairness": (_differential_fairness(predictions, protected, labels, outcomes, params)
                                  if protected else None),
    }
    fairness = parse_fairness(report, str(out_path))
    write_json(out_path, report)
    write_json(Path(out_path).with_name("headline.json"), headline(fairness))
    if groups_dir is not None:
        with atomic_path(groups_dir, directory=True) as tmp:
            for name, rows in group_bars(fairness).items():
                pd.DataFrame(rows, columns=["group", "value"]).to_csv(tmp / name, index=False)


def _settings(params: Audit) -> Settings:
    return Settings(
        min_group_size=params.min_group_size,
        resamples=params.bootstrap.resamples,
        seed=params.bootstrap.seed,
        level=params.bootstrap.level,
        min_events=params.min_events,
        multiple_comparisons=params.multiple_comparisons,  # type: ignore[arg-type]  # validated in params
        bands={name: Band(*params.tolerance[name]) for name in COMPARISONS},
    )


def _confusion(predictions: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """Test counts ``(K, K)``, true × predicted label; ValueError naming the column of a value that is no label."""
    codes = label_codes(predictions, labels)
    return count_cells(np.zeros(len(predictions), dtype=np.int64), codes, 1, len(labels))[0]


def _differential_fairness(
    predictions: pd.DataFrame, protected: Sequence[str], labels: Sequence[str], outcomes: Sequence[Outcome],
    params: Audit,
) -> dict[str, Any]:
    """Smoothed empirical differential fairness of the predictions over every intersection of the protected attributes.

    One attribute is its own finest intersection; ``protected`` must not be empty (no groups, no ratio).
    """
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

