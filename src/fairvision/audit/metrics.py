"""Per-group rates and group-vs-privileged fairness metrics, computed by AIF360.

AIF360's ``ClassificationMetric`` is the definition of record: the table is binarised
as "favourable label or not" for truth and prediction, and every non-privileged group
is compared with the privileged one. Accuracy per group is multi-class (exact match).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd



def _not_about_missing_extras(record: logging.LogRecord) -> bool:
    """AIF360 logs a root warning per optional extra (inFairness, fairlearn) it lacks; we use neither."""
    return "will be unavailable" not in record.getMessage()


logging.getLogger().addFilter(_not_about_missing_extras)
from aif360.datasets import BinaryLabelDataset  # noqa: E402
from aif360.metrics import ClassificationMetric  # noqa: E402

from fairvision.params import METRIC_NAMES  # noqa: E402

GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "error_rate")


def _number(value: Any) -> float | None:
    """A JSON-safe float: None where AIF360 returns NaN or inf (an empty denominator)."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def is_flagged(metric: str, value: float | None, tolerance: float) -> bool:
    """Past tolerance? Disparate impact is a ratio (four-fifths rule both ways); the rest are differences."""
    if value is None:
        return False
    if metric == "disparate_impact":
        return value < tolerance or value > 1 / tolerance
    return abs(value) > tolerance


def attribute_metrics(
    predictions: pd.DataFrame,
    attribute: str,
    privileged: str,
    favorable: str,
    tolerance: Mapping[str, float],
    min_group_size: int,
) -> dict[str, Any]:
    """Group sizes, rates and flagged comparisons for one protected attribute."""
    groups = sorted(predictions[attribute].unique())
    if privileged not in groups:
        raise ValueError(f"privileged group {privileged!r} of {attribute} has no test images")
    codes = {group: float(code) for code, group in enumerate(groups)}
    truth, predicted = _binary_datasets(predictions, attribute, codes, favorable)
    sizes = predictions[attribute].value_counts()
    accuracy = (predictions["label"] == predictions["pred"]).groupby(predictions[attribute]).mean()

    report: dict[str, Any] = {"privileged": privileged, "groups": {}, "comparisons": {}, "flagged_groups": []}
    for group in groups:  # rates of one group alone: it is the only "privileged" group of its metric
        alone = ClassificationMetric(truth, predicted, unprivileged_groups=[], privileged_groups=[{attribute: codes[group]}])
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = {name: _number(getattr(alone, name)(privileged=True)) for name in GROUP_RATES}
        report["groups"][group] = {"n": int(sizes[group]), "accuracy": _number(accuracy[group])} | rates
    for group in groups:
        if group == privileged:
            continue
        metric = ClassificationMetric(
            truth, predicted,
            unprivileged_groups=[{attribute: codes[group]}], privileged_groups=[{attribute: codes[privileged]}],
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # empty denominators become None, on purpose
            values = {name: _number(getattr(metric, name)()) for name in METRIC_NAMES}
        too_small = min(sizes[group], sizes[privileged]) < min_group_size
        flags = {name: not too_small and is_flagged(name, values[name], tolerance[name]) for name in METRIC_NAMES}
        status = "too_small" if too_small else "flagged" if any(flags.values()) else "ok"
        report["comparisons"][group] = {
            "status": status,
            "metrics": {name: {"value": values[name], "flagged": flags[name]} for name in METRIC_NAMES},
        }
        if status == "flagged":
            report["flagged_groups"].append(group)
    return report


def _binary_datasets(
    predictions: pd.DataFrame, attribute: str, codes: Mapping[str, float], favorable: str
) -> tuple[BinaryLabelDataset, BinaryLabelDataset]:
    """AIF360 datasets for truth and prediction: label 1 = favourable, attribute as a numeric code."""
    frame = pd.DataFrame(
        {
            "label": (predictions["label"] == favorable).to_numpy(dtype=np.float64),
            attribute: predictions[attribute].map(codes).to_numpy(dtype=np.float64),
        }
    )
    truth = BinaryLabelDataset(
        df=frame, label_names=["label"], protected_attribute_names=[attribute], favorable_label=1.0,
        unfavorable_label=0.0,
    )
    predicted = truth.copy(deepcopy=True)
    predicted.labels = (predictions["pred"] == favorable).to_numpy(dtype=np.float64).reshape(-1, 1)
    return truth, predicted
