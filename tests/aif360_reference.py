"""The same numbers computed by AIF360 itself: the definition of record the engine must match.

Slow (one ``ClassificationMetric`` per comparison, and importing AIF360 loads TensorFlow,
about 15 s), so it runs in the tests only: on random tables (test_measures.py) and on what
the audit stage publishes (test_aif360_agreement.py). The stage itself recounts from the
rows with pandas (``fairvision.audit.crosscheck``).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from fairvision.aif360_import import quiet_aif360_import
from fairvision.audit.measures import RATES


def _import_metrics():
    with quiet_aif360_import():
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric
    return BinaryLabelDataset, BinaryLabelDatasetMetric, ClassificationMetric


def binary_datasets(group_codes: np.ndarray, truth: np.ndarray, predicted: np.ndarray):
    """AIF360 datasets for one binary outcome: label 1 = favourable, the group as a numeric attribute."""
    BinaryLabelDataset, _, _ = _import_metrics()
    frame = pd.DataFrame({"label": truth.astype(np.float64), "group": group_codes.astype(np.float64)})
    dataset = BinaryLabelDataset(df=frame, label_names=["label"], protected_attribute_names=["group"],
                                 favorable_label=1.0, unfavorable_label=0.0)
    classified = dataset.copy(deepcopy=True)
    classified.labels = predicted.astype(np.float64).reshape(-1, 1)
    return dataset, classified


def comparison_values(
    dataset, classified, group: int, others: Sequence[int], metrics: Sequence[str]
) -> dict[str, float]:
    """AIF360's value of each comparison metric: ``group`` as unprivileged, ``others`` as privileged."""
    _, _, ClassificationMetric = _import_metrics()
    metric = ClassificationMetric(dataset, classified, unprivileged_groups=[{"group": float(group)}],
                                  privileged_groups=[{"group": float(o)} for o in others])
    with np.errstate(divide="ignore", invalid="ignore"):
        return {name: float(getattr(metric, name)()) for name in metrics}


def group_rate_values(dataset, classified, group: int) -> dict[str, float]:
    """AIF360's per-group rates of ``group`` (``base_rate`` from the truth's dataset metric)."""
    _, _, ClassificationMetric = _import_metrics()
    metric = ClassificationMetric(dataset, classified, unprivileged_groups=[],
                                  privileged_groups=[{"group": float(group)}])
    with np.errstate(divide="ignore", invalid="ignore"):
        return {name: float(getattr(metric, name)(privileged=True)) for name in RATES}


def theil_values(dataset, classified, groups: Sequence[int]) -> tuple[float, float]:
    """AIF360's Theil index and between-group Theil index over ``groups``."""
    _, _, ClassificationMetric = _import_metrics()
    metric = ClassificationMetric(dataset, classified, unprivileged_groups=[], privileged_groups=[])
    between = metric._between_group_generalized_entropy_index(groups=[[{"group": float(g)}] for g in groups], alpha=1)
    return float(metric.theil_index()), float(between)


def smoothed_edf_value(dataset, classified) -> float:
    """AIF360's smoothed empirical differential fairness of the predictions."""
    _, BinaryLabelDatasetMetric, _ = _import_metrics()
    return float(BinaryLabelDatasetMetric(classified).smoothed_empirical_differential_fairness())


def mismatches(expected: dict[str, float], got: dict[str, float], tolerance: float = 1e-9) -> Iterator[str]:
    """Names whose values differ beyond ``tolerance`` (NaN matches NaN, inf matches inf)."""
    for name, value in expected.items():
        other = got[name]
        if np.isnan(value) and np.isnan(other):
            continue
        if not (value == other or abs(value - other) <= tolerance):
            yield f"{name}: AIF360 {value!r}, fairvision {other!r}"
