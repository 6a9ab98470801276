"""Stage `audit@<backbone>`: predictions.parquet -> fairness.json (the DVC metrics file)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from fairvision.audit.metrics import attribute_metrics
from fairvision.errors import FairvisionError
from fairvision.files import require, write_json
from fairvision.params import Audit

log = logging.getLogger(__name__)


def resolve_privileged(setting: str, attribute: str, datasheet: dict[str, Any]) -> str:
    """``auto`` means the attribute's largest group in train (ties broken by name)."""
    if setting != "auto":
        return setting
    counts = datasheet["counts"]["train"][attribute]
    return max(sorted(counts), key=lambda group: sum(counts[group].values()))


def audit(
    backbone: str,
    predictions_path: str | Path,
    datasheet_path: str | Path,
    protected: tuple[str, ...],
    params: Audit,
    out_path: str | Path,
) -> None:
    """Measure every protected attribute's groups and write fairness.json."""
    predictions = pd.read_parquet(require(predictions_path, f"evaluate {backbone}"))
    datasheet = json.loads(require(datasheet_path, "prepare").read_text(encoding="utf-8"))
    labels = datasheet["labels"]
    favorable = labels[0] if params.favorable_label == "auto" else params.favorable_label
    if favorable not in labels:
        raise FairvisionError(
            f"params.yaml: `audit.favorable_label` {favorable!r} is not a label; labels: {', '.join(labels)}"
        )
    report: dict[str, Any] = {
        "backbone": backbone,
        "dataset": datasheet["dataset"],
        "target": datasheet["target"],
        "labels": labels,
        "favorable_label": favorable,
        "n": len(predictions),
        "accuracy": round(float((predictions["label"] == predictions["pred"]).mean()), 6),
        "min_group_size": params.min_group_size,
        "tolerance": dict(params.tolerance),
        "attributes": {},
    }
    for attribute in protected:
        privileged = resolve_privileged(params.privileged[attribute], attribute, datasheet)
        try:
            report["attributes"][attribute] = attribute_metrics(
                predictions, attribute, privileged, favorable, params.tolerance, params.min_group_size
            )
        except ValueError as error:
            raise FairvisionError(f"{predictions_path}: {error}") from None
        flagged = report["attributes"][attribute]["flagged_groups"]
        log.info("%s %s: privileged %s, flagged: %s", backbone, attribute, privileged, ", ".join(flagged) or "none")
    write_json(out_path, report)
