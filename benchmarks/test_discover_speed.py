"""Cohort discovery over 100k predictions vs one pandas groupby over the same rows, in the same run.

Issue 23's goal: the labelled intersections of 3 attributes (race, gender, age: every
intersection up to order 3, 239 cohorts × 3 gaps) over 100k predictions in ≤ 2 s, the whole
method: split, search on the explore half, exact tests, step-up, intervals and lineage on the
confirm half. As a ratio from one run: ≤ 150 times one pandas groupby that only counts errors
per race × gender × age cell of the same rows (≈ 13 ms here, so 150× ≈ 2 s). The shipped
defaults add AIF360's MDSS scan (one subset per gap); its time is recorded beside it.

Run: `.venv/bin/pytest benchmarks/test_discover_speed.py --benchmark-group-by=group`
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from test_audit_speed import table  # the audit benchmark's 100k predictions over race, gender and age

from fairvision.audit.measures import COMPARISONS
from fairvision.audit.verdicts import Band
from fairvision.discover import Settings, discover

N_ROWS = 100_000
GOAL = 150
ATTRIBUTES = ("race", "gender", "age")
BANDS = {name: Band(-0.1, 0.1) for name, c in COMPARISONS.items() if c.kind == "difference"}
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    return table(N_ROWS)


def _groupby(frame: pd.DataFrame) -> pd.DataFrame:
    wrong = frame["label"] != frame["pred"]
    return wrong.groupby([frame[a] for a in ATTRIBUTES], observed=True).agg(["sum", "size"])


def _discover(frame: pd.DataFrame, settings: Settings):
    return discover(frame, labels=("no", "yes"), favorable="yes", attributes=ATTRIBUTES, settings=settings)


@pytest.mark.benchmark(group="discovery over 100k predictions")
def test_baseline_one_pandas_groupby(benchmark, predictions) -> None:
    counted = benchmark.pedantic(lambda: _groupby(predictions), rounds=10, warmup_rounds=2)
    assert counted["size"].sum() == N_ROWS
    RESULTS["groupby"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="discovery over 100k predictions")
def test_labelled_intersections_of_three_attributes(benchmark, predictions) -> None:
    settings = Settings(bands=BANDS, mdss_subsets=0)
    found = benchmark.pedantic(lambda: _discover(predictions, settings), rounds=5, warmup_rounds=1)
    assert found.search.cohorts_considered == 7 + 2 + 9 + 7 * 2 + 7 * 9 + 2 * 9 + 7 * 2 * 9
    assert "groupby" in RESULTS, "run the whole module: the baseline is measured first"
    ratio = benchmark.stats.stats.median / RESULTS["groupby"]
    benchmark.extra_info["seconds"] = round(benchmark.stats.stats.median, 3)
    benchmark.extra_info["groupby seconds"] = round(RESULTS["groupby"], 4)
    benchmark.extra_info["ratio to one groupby"] = round(ratio, 1)
    with_mdss = Settings(bands=BANDS)
    started = time.perf_counter()
    _discover(predictions, with_mdss)
    benchmark.extra_info["seconds with the MDSS scan (defaults)"] = round(time.perf_counter() - started, 2)
    print(f"discovery {benchmark.stats.stats.median:.3f} s, groupby {RESULTS['groupby'] * 1000:.1f} ms: "
          f"ratio {ratio:.1f} (goal <= {GOAL}); with MDSS {benchmark.extra_info['seconds with the MDSS scan (defaults)']} s")
    assert ratio <= GOAL, (ratio, RESULTS)
