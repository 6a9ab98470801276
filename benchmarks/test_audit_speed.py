"""The audit's bootstrap vs Fairlearn's, and the whole audit stage vs importing AIF360, in the same run.

fairvision resamples each group's confusion counts (exact in distribution to a row
bootstrap, see audit/bootstrap.py); Fairlearn's MetricFrame resamples the whole table row
by row. Goal: fairvision's full audit (3 protected attributes + 1 intersection, every
metric, both comparisons, every outcome) >= 1000x faster per resample than Fairlearn
computing five group metrics of one attribute; and the interval widths agree within
Monte-Carlo error. The whole stage (a fresh process: imports, reading, the audit, the pandas
recount, writing) on a table shaped like the demo's (3,500 rows, race × age) must take at most
0.4 of what importing AIF360's metrics alone takes (which the stage used to pay): ≤ 3 s here.

Run: `.venv/bin/pytest benchmarks --benchmark-group-by=group`
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame, false_positive_rate, selection_rate, true_positive_rate,
)
from sklearn.metrics import accuracy_score

from fairvision.audit.engine import Settings, audit_table
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.simulate import Truth, demo_population
from fairvision.audit.verdicts import Band
from fairvision.params import ATTRIBUTE_VALUES

N_ROWS = 100_000
RESAMPLES = 1000
FAIRLEARN_RESAMPLES = 5
LABELS = ("no", "yes")
RACES = ATTRIBUTE_VALUES["race"]
RESULTS: dict[str, float] = {}


def settings(resamples: int, level: float = 0.95, method: str = "simultaneous") -> Settings:
    bands = {n: Band(-0.1, 0.1) if c.kind == "difference" else Band(0.8, 1.25) for n, c in COMPARISONS.items()}
    return Settings(min_group_size=50, resamples=resamples, seed=0, level=level,
                    multiple_comparisons=method, bands=bands)  # type: ignore[arg-type]


def table(n_rows: int) -> pd.DataFrame:
    """Predictions over race, gender and age with group-dependent error rates."""
    rng = np.random.default_rng(1)
    race = rng.choice(RACES, n_rows)
    error = 0.08 + 0.02 * np.array([RACES.index(r) for r in race])
    truth = rng.random(n_rows) < 0.4
    predicted = np.where(rng.random(n_rows) < error, ~truth, truth)
    frame = pd.DataFrame({"id": np.arange(n_rows), "label": np.where(truth, "yes", "no"),
                          "pred": np.where(predicted, "yes", "no"), "race": race})
    frame["gender"] = rng.choice(ATTRIBUTE_VALUES["gender"], n_rows)
    frame["age"] = rng.choice(ATTRIBUTE_VALUES["age"], n_rows, p=[0.02, 0.12, 0.11, 0.30, 0.22, 0.12, 0.07, 0.03, 0.01])
    return frame


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    return table(N_ROWS)


def fairlearn_frame(frame: pd.DataFrame, n_boot: int, quantiles: list[float]) -> MetricFrame:
    y_true, y_pred = (frame["label"] == "yes").astype(int), (frame["pred"] == "yes").astype(int)
    metrics = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
               "false_positive_rate": false_positive_rate, "accuracy": accuracy_score,
               "error_rate": lambda t, p: 1 - accuracy_score(t, p)}
    return MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=frame["race"],
                       n_boot=n_boot, ci_quantiles=quantiles, random_state=0)


@pytest.mark.benchmark(group="bootstrap 100k predictions, per resample")
def test_baseline_fairlearn_metricframe_bootstrap(benchmark, predictions) -> None:
    benchmark.pedantic(lambda: fairlearn_frame(predictions, FAIRLEARN_RESAMPLES, [0.025, 0.975]), rounds=1)
    RESULTS["fairlearn"] = benchmark.stats.stats.median / FAIRLEARN_RESAMPLES


@pytest.mark.benchmark(group="bootstrap 100k predictions, per resample")
def test_fairvision_full_audit(benchmark, predictions) -> None:
    run = benchmark.pedantic(
        lambda: audit_table(predictions, predictions, LABELS, "yes", ("race", "gender", "age"), [("race", "age")],
                            {}, settings(RESAMPLES)),
        rounds=3, warmup_rounds=1)
    assert [r.name for r in run.results] == ["race", "gender", "age", "race × age"]
    # Resamples grow with the largest family (intervals.resamples_for): count the replicates actually drawn.
    RESULTS["fairvision"] = benchmark.stats.stats.median / len(run.finest.replicates)
    benchmark.extra_info["resamples drawn"] = len(run.finest.replicates)
    benchmark.extra_info["seconds for the whole audit"] = benchmark.stats.stats.median
    assert "fairlearn" in RESULTS, "run the whole module: the baseline is measured first"
    speedup = RESULTS["fairlearn"] / RESULTS["fairvision"]
    benchmark.extra_info["speed-up per resample vs Fairlearn"] = round(speedup)
    assert speedup >= 1000, RESULTS


def test_interval_widths_agree_with_fairlearn() -> None:
    """One-standard-error widths (16th-84th percentile) of per-group rates, 10k rows, 200 Fairlearn resamples."""
    frame = table(10_000)
    quantiles = [0.1587, 0.8413]
    theirs = fairlearn_frame(frame, 200, quantiles)
    their_width = theirs.by_group_ci[1] - theirs.by_group_ci[0]
    run = audit_table(frame, frame, LABELS, "yes", ("race",), [], {}, settings(2000, level=0.6827, method="none"))
    groups = run.results[0].outcomes["yes"].groups
    for metric in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy", "error_rate"):
        for race in RACES:
            rate = groups[race].rates[metric]
            ratio = (rate.high - rate.low) / their_width.loc[race, metric]
            # Fairlearn's width from 200 resamples carries ~7 % Monte-Carlo error; 3.5 of those, both ways.
            assert 0.75 <= ratio <= 1.33, (metric, race, ratio)


STAGE = """
import json, sys
from pathlib import Path
from fairvision.audit.stage import audit
from fairvision.params import Audit, Bootstrap, Dataset, Tolerance
folder = Path(sys.argv[1])
params = Audit(favorable_label="auto", min_group_size=50, min_events=5, bootstrap=Bootstrap(1000, 0, 0.95),
               multiple_comparisons="simultaneous", tolerance=Tolerance(difference=0.1, ratio=(0.8, 1.25), metrics={}))
dataset = Dataset(name="d", format="fairface", path="", padding=0.25, target="gender", protected=("race", "age"),
                  reference={}, intersections=(("race", "age"),))
audit("b", {0: folder / "predictions.parquet"}, folder, dataset, params, folder / "fairness.json")
"""


def _seconds(*command: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - started


def test_whole_audit_stage_costs_under_half_of_importing_aif360(tmp_path) -> None:
    """The demo's shape: 3,500 test rows, 7 races × 9 ages, labels Female/Male."""
    population = demo_population(Truth(base_rate=0.5, true_positive_rate=0.85, false_positive_rate=0.05))
    population.draw(seed=0).to_parquet(tmp_path / "predictions.parquet")
    population.train().assign(split="train").to_parquet(tmp_path / "manifest.parquet")
    (tmp_path / "datasheet.json").write_text(
        json.dumps({"dataset": "d", "target": "gender", "labels": ["Female", "Male"]}))
    baseline = min(_seconds(sys.executable, "-c", "import aif360.metrics") for _ in range(2))
    stage = min(_seconds(sys.executable, "-c", STAGE, str(tmp_path)) for _ in range(2))
    print(f"whole audit stage {stage:.2f} s, import aif360.metrics {baseline:.2f} s: ratio {stage / baseline:.2f}")
    # Issue 17's goal is ≤ 3 s on the demo; importing AIF360's metrics takes 7.5–8.5 s on the 2-core machines
    # this project runs on, so the goal as a ratio from one run is ≤ 0.4 of that import.
    assert stage <= 0.4 * baseline, (stage, baseline)
