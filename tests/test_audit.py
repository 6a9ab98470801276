"""The audit's numbers, checked by hand and against AIF360 called directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from aif360.datasets import BinaryLabelDataset
from aif360.metrics import ClassificationMetric

from fairvision.audit.metrics import attribute_metrics, is_flagged
from fairvision.audit.stage import audit, resolve_privileged
from fairvision.errors import FairvisionError
from fairvision.params import METRIC_NAMES, Audit

TOLERANCE = {
    "statistical_parity_difference": 0.1,
    "disparate_impact": 0.8,
    "equal_opportunity_difference": 0.1,
    "average_odds_difference": 0.1,
    "error_rate_difference": 0.05,
}
F, M = "Female", "Male"
# Group A: TP 4, FN 1, TN 4, FP 1.  Group B: TP 2, FN 3, TN 3, FP 2.  Group C: two rows.
TABLE = pd.DataFrame(
    {
        "race": ["A"] * 10 + ["B"] * 10 + ["C"] * 2,
        "label": [F] * 5 + [M] * 5 + [F] * 5 + [M] * 5 + [F, M],
        "pred": [F, F, F, F, M, M, M, M, M, F] + [F, F, M, M, M, M, M, M, F, F] + [M, F],
    }
)


def test_hand_computed_values() -> None:
    report = attribute_metrics(TABLE, "race", "A", F, TOLERANCE, min_group_size=5)
    a, b = report["groups"]["A"], report["groups"]["B"]
    assert (a["n"], a["accuracy"], a["selection_rate"], a["true_positive_rate"], a["false_positive_rate"]) == (
        10, 0.8, 0.5, 0.8, 0.2)
    assert (b["n"], b["accuracy"], b["selection_rate"], b["true_positive_rate"], b["error_rate"]) == (
        10, 0.5, 0.4, 0.4, 0.5)
    values = {name: entry["value"] for name, entry in report["comparisons"]["B"]["metrics"].items()}
    assert values == pytest.approx({
        "statistical_parity_difference": 0.4 - 0.5,
        "disparate_impact": 0.4 / 0.5,
        "equal_opportunity_difference": 0.4 - 0.8,
        "average_odds_difference": ((0.4 - 0.2) + (0.4 - 0.8)) / 2,
        "error_rate_difference": 0.5 - 0.2,
    })
    flags = {name: entry["flagged"] for name, entry in report["comparisons"]["B"]["metrics"].items()}
    assert flags["equal_opportunity_difference"] and flags["error_rate_difference"]
    assert not flags["statistical_parity_difference"] and not flags["average_odds_difference"]
    assert report["comparisons"]["B"]["status"] == "flagged"
    assert report["comparisons"]["C"]["status"] == "too_small"  # reported, never flagged
    assert not any(m["flagged"] for m in report["comparisons"]["C"]["metrics"].values())
    assert report["flagged_groups"] == ["B"]
    assert "A" not in report["comparisons"]


def test_equals_aif360_called_directly() -> None:
    report = attribute_metrics(TABLE, "race", "A", F, TOLERANCE, min_group_size=1)
    frame = pd.DataFrame({"y": (TABLE["label"] == F).astype(float), "race": TABLE["race"].map({"A": 0.0, "B": 1.0, "C": 2.0})})
    truth = BinaryLabelDataset(df=frame, label_names=["y"], protected_attribute_names=["race"])
    predicted = truth.copy(deepcopy=True)
    predicted.labels = (TABLE["pred"] == F).to_numpy(dtype=float).reshape(-1, 1)
    for group, code in (("B", 1.0), ("C", 2.0)):
        metric = ClassificationMetric(truth, predicted, unprivileged_groups=[{"race": code}],
                                      privileged_groups=[{"race": 0.0}])
        for name in METRIC_NAMES:
            expected = getattr(metric, name)()
            got = report["comparisons"][group]["metrics"][name]["value"]
            assert (got is None and not np.isfinite(expected)) or got == pytest.approx(expected, abs=1e-6), name


def test_undefined_metric_is_null_and_not_flagged() -> None:
    table = pd.DataFrame({"race": ["A", "A", "B", "B"], "label": [F, M, F, M], "pred": [M, M, F, F]})
    report = attribute_metrics(table, "race", "A", F, TOLERANCE, min_group_size=1)
    disparate_impact = report["comparisons"]["B"]["metrics"]["disparate_impact"]
    assert disparate_impact == {"value": None, "flagged": False}  # privileged selection rate is 0
    json.dumps(report, allow_nan=False)


@pytest.mark.parametrize(("metric", "value", "flagged"), [
    ("disparate_impact", 0.79, True), ("disparate_impact", 1.3, True), ("disparate_impact", 1.2, False),
    ("error_rate_difference", -0.06, True), ("error_rate_difference", 0.04, False),
    ("statistical_parity_difference", None, False),
])
def test_flag_rule(metric: str, value: float | None, flagged: bool) -> None:
    assert is_flagged(metric, value, TOLERANCE[metric]) is flagged


def test_audit_stage_writes_fairness_json(tmp_path: Path) -> None:
    predictions = TABLE.assign(id=[f"val/{i}" for i in range(len(TABLE))], age="20-29")
    predictions.to_parquet(tmp_path / "predictions.parquet")
    datasheet = {"dataset": "t", "target": "gender", "labels": [F, M],
                 "counts": {"train": {"race": {"A": {F: 9, M: 9}, "B": {F: 2, M: 3}, "C": {F: 1, M: 1}},
                                      "age": {"20-29": {F: 12, M: 13}}}}}
    (tmp_path / "datasheet.json").write_text(json.dumps(datasheet))
    params = Audit(privileged={"race": "auto", "age": "auto"}, favorable_label="auto", min_group_size=5,
                   tolerance=TOLERANCE)
    audit("b", tmp_path / "predictions.parquet", tmp_path / "datasheet.json", ("race", "age"), params,
          tmp_path / "fairness.json")
    result = json.loads((tmp_path / "fairness.json").read_text())
    assert result["favorable_label"] == F and result["n"] == 22
    assert result["accuracy"] == pytest.approx(13 / 22, abs=1e-6)  # A 8 right, B 5, C 0
    assert result["attributes"]["race"]["privileged"] == "A"
    assert result["attributes"]["race"]["flagged_groups"] == ["B"]
    assert result["attributes"]["age"]["comparisons"] == {}

    bad = Audit(privileged={"race": "auto", "age": "auto"}, favorable_label="Other", min_group_size=5,
                tolerance=TOLERANCE)
    with pytest.raises(FairvisionError, match="favorable_label"):
        audit("b", tmp_path / "predictions.parquet", tmp_path / "datasheet.json", ("race",), bad, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_auto_privileged_is_largest_train_group() -> None:
    sheet = {"counts": {"train": {"race": {"A": {F: 1, M: 1}, "B": {F: 5, M: 0}}}}}
    assert resolve_privileged("auto", "race", sheet) == "B"
    assert resolve_privileged("A", "race", sheet) == "A"
