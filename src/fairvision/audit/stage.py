"""Stage `audit@<backbone>`: predictions.parquet -> fairness.json (the DVC metrics file), headline.json, and
references.json (each partition's reference group, all the explanations read).

Reads the predictions, the datasheet (labels, target) and the manifest (who is in train,
for the reference groups and for groups missing from the test split), reports every
label's performance, audits every protected attribute and configured intersection,
cross-checks the published point estimates against AIF360, and writes fairness.json
atomically. A dataset without protected attributes gets per-label performance only, and
fairness.json says why group fairness was not measured instead of an empty, passing audit.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fairvision.audit import serialize
from fairvision.audit.bootstrap import coarsen
from fairvision.audit.coverage import small_group_warnings
from fairvision.audit.crosscheck import crosscheck
from fairvision.audit.engine import AuditRun, PartitionResult, Settings, audit_table, finest_attributes
from fairvision.audit.measures import smoothed_edf
from fairvision.audit.outcomes import Outcome
from fairvision.audit.performance import per_label
from fairvision.audit.headline import group_bars, headline
from fairvision.audit.record import SCHEMA_VERSION, parse_fairness
from fairvision.audit.vocabulary import SEPARATOR, partition_name
from fairvision.audit.summary import summarize
from fairvision.audit.tolerance import bands
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, require, write_json
from fairvision.jsonread import read_json
from fairvision.params import Audit, Dataset
from fairvision.references import REFERENCES_FILE, write_references

log = logging.getLogger(__name__)

MULTIPLE_COMPARISONS_FAMILY = ("one table: every comparison judged by its interval (groups and metrics with "
                               "enough data) of one partition, outcome framing and kind of comparison "
                               "(against the reference group, or against the rest), one per event (a difference "
                               "and its ratio, or EOD and the FNR difference, judge the same gap); the table's "
                               "resamples leave at least 5 replicates beyond each Bonferroni bound")
EDF_INTERVAL = ("one-sided: [0, upper bound]. ε is a maximum over pairs of groups, which resampling inflates, so a "
                "two-sided percentile interval would sit above the point; the replicates' upper quantile is a "
                "conservative bound")
NO_PROTECTED = ("No protected attributes: the dataset's `protected` list in params.yaml is empty (it has no "
                "attribute table; give one with its `attributes` key), so no group fairness can be measured. Only "
                "per-label performance is reported.")


def audit(
    backbone: str,
    predictions_paths: Mapping[int, str | Path],
    prepared_dir: str | Path,
    dataset: Dataset,
    params: Audit,
    out_path: str | Path,
    *,
    groups_dir: str | Path | None = None,
) -> None:
    """Audit every protected attribute and intersection of ``dataset``; write fairness.json and headline.json
    beside it.

    ``predictions_paths``: training seed -> that seed's prediction table. One seed is audited
    as one model; several as one training procedure (``engine.audit_table``), each seed's own
    audit kept beside (how many seeds fail each comparison on their own).
    ``groups_dir`` (the pipeline's `groups/<B>/`) receives the per-group accuracy bars for
    `dvc plots`; None writes none.
    """
    settings = engine_settings(params)  # the tolerance's metrics checked before any work
    if not predictions_paths:
        raise FairvisionError(f"{backbone}: no seed to audit (params.yaml `train.seeds` is empty)")
    prepared_dir, protected = Path(prepared_dir), dataset.protected
    attributes = finest_attributes(protected, dataset.intersections)
    seeds = list(predictions_paths)
    tables = {seed: _read_predictions(Path(path), backbone, attributes) for seed, path in predictions_paths.items()}
    datasheet = read_json(require(prepared_dir / "datasheet.json", "prepare"), ("labels", "dataset", "target"))
    manifest = pd.read_parquet(require(prepared_dir / "manifest.parquet", "prepare"))
    labels = datasheet["labels"]
    first_path = Path(predictions_paths[seeds[0]])
    _require_same_images(tables, predictions_paths, attributes)
    require_columns(manifest, ("split", *attributes), prepared_dir / "manifest.parquet")
    train = manifest[manifest["split"] == "train"]
    require_complete(train, attributes, prepared_dir / "manifest.parquet")
    favorable = labels[0] if params.favorable_label == "auto" else params.favorable_label
    if favorable not in labels:
        raise FairvisionError(
            f"params.yaml: `audit.favorable_label` {favorable!r} is not a label; labels: {', '.join(labels)}")

    def audited(table: pd.DataFrame | list[pd.DataFrame], path: Path) -> AuditRun:
        try:
            return audit_table(table, train, labels, favorable, protected, dataset.intersections, dataset.reference,
                               settings, dataset.key("reference"))
        except ValueError as error:
            raise FairvisionError(f"{path}: {error}") from None

    per_seed: list[AuditRun] = []
    if len(seeds) > 1:
        for seed in seeds:
            log.info("%s: auditing seed %d on its own", backbone, seed)
            per_seed.append(audited(tables[seed], Path(predictions_paths[seed])))
            for partition, result in zip(per_seed[-1].partitions, per_seed[-1].results):
                crosscheck(tables[seed], partition, per_seed[-1].outcomes, result)
        log.info("%s: auditing the %d seeds together", backbone, len(seeds))
    run = audited([tables[seed] for seed in seeds], first_path)
    stacked = pd.concat([tables[seed] for seed in seeds], ignore_index=True)
    performance = per_label(run.finest.counts.sum(axis=0), run.finest.pooled, labels, level=params.bootstrap.level)
    if not protected:
        log.info("%s: %s", backbone, NO_PROTECTED)
    for partition, result in zip(run.partitions, run.results):
        crosscheck(stacked, partition, run.outcomes, result, seeds=len(seeds))
        _log_partition(backbone, result, run.outcomes[0])
    outcomes = run.outcomes

    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "backbone": backbone,
        "dataset": datasheet["dataset"],
        "target": datasheet["target"],
        "labels": labels,
        "favorable_label": favorable,
        "n": len(tables[seeds[0]]),
        "accuracy": serialize.number(float((stacked["label"] == stacked["pred"]).mean())),
        "seeds": _seeds_record(seeds, tables, per_seed),
        "settings": {
            "min_group_size": params.min_group_size,
            "min_events": params.min_events,
            "bootstrap": {"resamples": len(run.finest.replicates), "min_resamples": params.bootstrap.resamples,
                          "seed": params.bootstrap.seed, "level": params.bootstrap.level,
                          "stratified_by": _strata(run.finest.attributes, len(seeds)),
                          "per_label_stratified_by": _strata(run.finest.attributes, len(seeds))},
            "multiple_comparisons": {"method": params.multiple_comparisons, "family": MULTIPLE_COMPARISONS_FAMILY},
            "tolerance": {name: [band.low, band.high] for name, band in settings.bands.items()},
        },
        "outcomes": [{"name": o.name, "label": o.label, "description": o.description, "metrics": list(o.metrics)}
                     for o in outcomes],
        "per_label": serialize.per_label(performance),
        "group_fairness": {"measured": bool(protected), "reason": None if protected else NO_PROTECTED},
        "summary": summarize(run.results, outcomes),
        "partitions": {result.name: serialize.partition(result, [s.results[p] for s in per_seed])
                       for p, result in enumerate(run.results)},
        "differential_fairness": _differential_fairness(run, protected, labels, params) if protected else None,
    }
    fairness = parse_fairness(report, str(out_path))
    for warning in small_group_warnings(fairness):
        log.warning("%s: %s", backbone, warning)
    write_json(out_path, report)
    write_json(Path(out_path).with_name("headline.json"), headline(fairness))
    write_references(Path(out_path).with_name(REFERENCES_FILE),
                     {result.name: result.reference for result in run.results})
    if groups_dir is not None:
        with atomic_path(groups_dir, directory=True) as tmp:
            for name, rows in group_bars(fairness).items():
                pd.DataFrame(rows, columns=["group", "value"]).to_csv(tmp / name, index=False)


def _read_predictions(path: Path, backbone: str, attributes: Sequence[str]) -> pd.DataFrame:
    """One seed's prediction table, checked: the columns the audit needs, no missing values, some rows."""
    predictions = pd.read_parquet(require(path, f"evaluate {backbone}"))
    require_columns(predictions, ("id", "label", "pred", *attributes), path)
    require_complete(predictions, ("label", "pred", *attributes), path)
    if predictions.empty:
        raise FairvisionError(f"{path}: the prediction table has no rows; the test split is empty "
                              "(check params.yaml `prepare` fractions and the source)")
    return predictions


def _require_same_images(tables: Mapping[int, pd.DataFrame], paths: Mapping[int, str | Path],
                         attributes: Sequence[str]) -> None:
    """Several seeds are one procedure only on the same test images, in the same order, with the same labels."""
    seeds = list(tables)
    first = tables[seeds[0]][["id", "label", *attributes]].reset_index(drop=True)
    for seed in seeds[1:]:
        other = tables[seed][["id", "label", *attributes]].reset_index(drop=True)
        if not first.equals(other):
            raise FairvisionError(
                f"{paths[seed]} and {paths[seeds[0]]}: the seeds' prediction tables hold different test images, "
                "labels or groups (or another order); rerun `evaluate` for every seed on the same prepared data")


TRAINING_VARIANCE = ("{k} training seeds audited as one procedure: every count is the seeds' mean, and each interval "
                     "adds to the bootstrap over test images the spread of the seeds' own values (Student's t with "
                     "{dof}; docs/seed-coverage.md), so it holds the training's randomness as well as the test "
                     "set's; with few seeds these intervals are wide (5 or more make verdicts possible)")
SINGLE_SEED = ("one training run (seed {seed}): training variance was not measured. Another seed of the same "
               "procedure may give a different model and different verdicts, mostly for small groups "
               "(docs/seed-variance.md); list several seeds in params.yaml `train.seeds` to include it")


def _degrees(dof: int) -> str:
    return f"{dof} degree{'' if dof == 1 else 's'} of freedom"


def _seeds_record(seeds: Sequence[int], tables: Mapping[int, pd.DataFrame],
                  per_seed: Sequence[AuditRun]) -> dict[str, Any]:
    """Which seeds were audited, whether training variance is in the intervals, and each seed's own headline."""
    accuracy = [float((tables[s]["label"] == tables[s]["pred"]).mean()) for s in seeds]
    measured = len(seeds) > 1
    own = [summarize(run.results, run.outcomes) for run in per_seed]
    return {
        "values": list(seeds),
        "training_variance": {"measured": measured,
                              "how": TRAINING_VARIANCE.format(k=len(seeds), dof=_degrees(len(seeds) - 1)) if measured else None,
                              "reason": None if measured else SINGLE_SEED.format(seed=seeds[0])},
        "accuracy": serialize.spread(accuracy),
        "per_seed": [{"seed": seed, "accuracy": serialize.number(acc),
                      "verdict": summary["verdict"] if measured else None,
                      "failing": len(summary["failing"]) if measured else None}
                     for seed, acc, summary in zip(seeds, accuracy, own or [{}] * len(seeds))],
    }


def engine_settings(params: Audit) -> Settings:
    """The engine's settings from params.yaml `audit` (also what the validation audits with)."""
    return Settings(
        min_group_size=params.min_group_size,
        resamples=params.bootstrap.resamples,
        seed=params.bootstrap.seed,
        level=params.bootstrap.level,
        min_events=params.min_events,
        multiple_comparisons=params.multiple_comparisons,  # type: ignore[arg-type]  # validated in params
        bands=bands(params.tolerance),
    )


def _strata(attributes: Sequence[str], seeds: int = 1) -> str:
    also = (f"; the same images for each of the {seeds} training seeds, whose own spread is added to each interval"
            if seeds > 1 else "")
    if not attributes:
        return f"nothing (no protected attributes: the whole test split is resampled){also}"
    return (f"{partition_name(attributes)} (each finest group keeps its size; one draw serves every partition, "
            f"summed from it){also}")


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: str | Path) -> None:
    """FairvisionError naming the file and every column the audit needs that it lacks."""
    missing = [column for column in dict.fromkeys(columns) if column not in frame.columns]
    if missing:
        raise FairvisionError(f"{path}: missing column(s) {', '.join(f'`{c}`' for c in missing)}; "
                              "rerun the stage that writes it")


def require_complete(frame: pd.DataFrame, columns: Sequence[str], path: str | Path) -> None:
    """Missing values are rejected, never turned into a label or a group named `nan`.

    A missing label would count as some class and a missing attribute as a group of its own
    (which `auto` could even pick as the reference), so the audit stops and names them.
    """
    counts = {column: int(frame[column].isna().sum()) for column in dict.fromkeys(columns)}
    missing = {column: n for column, n in counts.items() if n}
    if missing:
        listed = ", ".join(f"`{column}` ({n} of {len(frame)} rows)" for column, n in missing.items())
        raise FairvisionError(f"{path}: missing values in {listed}; the audit cannot assign those rows to a "
                              "label or group. Fix the source's attributes and rerun `prepare`")


def _differential_fairness(run: AuditRun, protected: Sequence[str], labels: Sequence[str],
                           params: Audit) -> dict[str, Any]:
    """Smoothed empirical differential fairness of the predictions over every intersection of the protected attributes.

    From the audit's own finest draw, summed over any attribute that appears only in an
    intersection. ε is a maximum over pairs of groups, so resampling inflates it (each
    replicate's largest log-ratio is at least as extreme as a typical one): a percentile
    interval sits above the point. Only a one-sided upper bound is reported, the replicates'
    ``level`` quantile, which that upward shift makes conservative.
    """
    finest = run.finest
    keys = [SEPARATOR.join(group.split(SEPARATOR)[finest.attributes.index(a)] for a in protected)
            for group in finest.groups]
    groups = sorted(set(keys))
    membership = np.array([groups.index(key) for key in keys], dtype=np.int64)
    counts = coarsen(finest.counts, membership, len(groups))
    replicates = coarsen(finest.replicates[:params.bootstrap.resamples], membership, len(groups))
    values = {}
    for outcome in run.outcomes:
        point = smoothed_edf(outcome.cells(counts, labels))
        upper = float(np.quantile(smoothed_edf(outcome.cells(replicates, labels)), params.bootstrap.level))
        values[outcome.name] = {"value": serialize.number(point), "ci": [0.0, serialize.number(max(upper, point))]}
    return {"attributes": list(protected), "concentration": 1.0, "groups": len(groups), "outcomes": values,
            "interval": EDF_INTERVAL}


def _log_partition(backbone: str, result: PartitionResult, headline: Outcome) -> None:
    groups = result.outcomes[headline.name].groups
    failing = [name for name, group in groups.items() if group.status.get("reference") == "fail"]
    log.info("%s %s (%s): reference %s, fail: %s", backbone, result.name, headline.name, result.reference,
             ", ".join(failing) or "none")

