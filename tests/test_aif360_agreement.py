"""What the audit stage publishes equals AIF360 computed from the prediction rows: the definition of record.

Every comparison (against the reference group and against the rest), every group rate and
both Theil indices, for every partition (attributes and their intersection) and outcome
framing, on an unbalanced table with a multiclass target. The stage's own run-time check
is a pandas recount (AIF360's import costs ~15 s); this test keeps AIF360 the arbiter.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import aif360_reference as aif360
from fairvision.audit.crosscheck import binary_outcome
from fairvision.audit.outcomes import outcomes_for
from fairvision.audit.partitions import category_codes
from fairvision.groups import group_keys
from fairvision.audit.stage import audit
from fairvision.params import Audit, Bootstrap, Dataset, Tolerance

LABELS = ["cat", "dog", "red fox"]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(7)
    n = 900
    race = rng.choice(["A", "B", "C", "D"], n, p=[0.5, 0.3, 0.15, 0.05])
    age = rng.choice(["young", "old"], n, p=[0.7, 0.3])
    label = rng.choice(LABELS, n, p=[0.5, 0.3, 0.2])
    wrong = rng.random(n) < np.where(race == "C", 0.4, 0.15)
    pred = np.where(wrong, rng.choice(LABELS, n), label)
    predictions = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "label": label, "pred": pred,
                                "race": race, "age": age})
    folder = tmp_path_factory.mktemp("agreement")
    predictions.to_parquet(folder / "predictions.parquet")
    predictions.assign(split="train").to_parquet(folder / "manifest.parquet")
    (folder / "datasheet.json").write_text(json.dumps({"dataset": "t", "target": "animal", "labels": LABELS}))
    params = Audit(favorable_label="auto", min_group_size=1, min_events=0,
                   bootstrap=Bootstrap(resamples=200, seed=0, level=0.95), multiple_comparisons="simultaneous",
                   tolerance=Tolerance(difference=0.1, ratio=(0.8, 1.25), metrics={}))
    dataset = Dataset(name="t", format="fairface", path="", padding=0.25, target="animal", protected=("race", "age"),
                      reference={}, intersections=(("race", "age"),))
    audit("b", {0: folder / "predictions.parquet"}, folder, dataset, params, folder / "fairness.json")
    return predictions, json.loads((folder / "fairness.json").read_text())


def test_every_published_number_equals_aif360(published: tuple[pd.DataFrame, dict]) -> None:
    predictions, fairness = published
    checked = 0
    for name, partition in fairness["partitions"].items():
        groups = list(partition["groups"])
        codes = category_codes(group_keys(predictions, partition["attributes"]), groups)
        reference = groups.index(partition["reference"])
        for outcome in outcomes_for(LABELS, fairness["favorable_label"]):
            truth, predicted = binary_outcome(predictions, outcome)
            dataset, classified = aif360.binary_datasets(codes, truth.astype(int), predicted.astype(int))
            table = partition["outcomes"][outcome.name]
            for g, group in enumerate(groups):
                entry = table["groups"][group]
                rates = aif360.group_rate_values(dataset, classified, g)
                got = {rate: value["value"] for rate, value in entry["rates"].items()}
                assert not list(aif360.mismatches(rates, _nan(got), 1e-6)), (name, outcome.name, group)
                others = {"vs_reference": [reference], "vs_rest": [o for o in range(len(groups)) if o != g]}
                for key, other in others.items():
                    if key not in entry:
                        continue
                    expected = aif360.comparison_values(dataset, classified, g, other, outcome.metrics)
                    got = {metric: value["aif360_value"] for metric, value in entry[key].items()}
                    assert not list(aif360.mismatches(expected, _nan(got), 1e-6)), (name, outcome.name, group, key)
                    checked += len(expected)
            theil, between = aif360.theil_values(dataset, classified, range(len(groups)))
            assert table["theil_index"]["value"] == pytest.approx(theil, abs=1e-6)
            assert table["between_group_theil_index"]["value"] == pytest.approx(between, abs=1e-6)
    assert checked > 500


def _nan(values: dict) -> dict:
    """fairness.json's null is AIF360's NaN (or an infinite ratio, which AIF360 reports as inf)."""
    return {key: np.nan if value is None else value for key, value in values.items()}
