"""The audit stage and engine: hand-computed values, undefined metrics, small and missing groups, verdicts."""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairvision.audit import bootstrap, intervals
from fairvision.audit.bootstrap import coarsen, stratified_resample
from fairvision.audit.engine import Settings, audit_partition, audit_table
from fairvision.audit.intervals import (
    TAIL_REPLICATES, family_interval_level, family_intervals, family_level, resamples_for,
)
from fairvision.audit.vocabulary import worst
from fairvision.statistics import percentile_intervals
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.outcomes import CORRECT, CORRECT_METRICS, outcomes_for
from fairvision.audit.partitions import build_partition
from fairvision.audit.record import parse_fairness
from fairvision.audit.engine import resolve_reference
from fairvision.audit.stage import audit
from fairvision.audit.verdicts import Band, verdict
from fairvision.errors import FairvisionError
from fairvision.params import Audit, Bootstrap, Dataset, Tolerance

F, M = "Female", "Male"
BANDS = {name: Band(-0.1, 0.1) if c.kind == "difference" else Band(0.8, 1.25) for name, c in COMPARISONS.items()}
# Group A: TP 4, FN 1, TN 4, FP 1.  Group B: TP 2, FN 3, TN 3, FP 2.  Group C: two rows.
TABLE = pd.DataFrame(
    {
        "race": ["A"] * 10 + ["B"] * 10 + ["C"] * 2,
        "label": [F] * 5 + [M] * 5 + [F] * 5 + [M] * 5 + [F, M],
        "pred": [F, F, F, F, M, M, M, M, M, F] + [F, F, M, M, M, M, M, M, F, F] + [M, F],
    }
)


def settings(**changes) -> Settings:
    base = dict(min_group_size=5, resamples=200, seed=0, level=0.95, multiple_comparisons="simultaneous", bands=BANDS)
    return Settings(**(base | changes))


def audit_params(**changes) -> Audit:
    tolerance = Tolerance(difference=0.1, ratio=(0.8, 1.25), metrics={})  # BANDS
    base = dict(favorable_label="auto", min_group_size=5, min_events=0,
                bootstrap=Bootstrap(resamples=200, seed=0, level=0.95), multiple_comparisons="simultaneous",
                tolerance=tolerance)
    return Audit(**(base | changes))


def test_hand_computed_values_with_a_reference_that_is_not_the_first_group() -> None:
    partition = build_partition(TABLE, ["race"], [F, M])
    result = audit_partition(partition, outcomes_for([F, M], F), "B", "test", {}, settings())
    groups = result.outcomes[F].groups
    a = groups["A"].rates
    assert (groups["A"].n, a["accuracy"].value, a["selection_rate"].value, a["true_positive_rate"].value,
            a["false_positive_rate"].value) == (10, 0.8, 0.5, 0.8, 0.2)
    values = {name: judged.value for name, judged in groups["A"].comparisons["reference"].items()}
    assert values["statistical_parity_difference"] == pytest.approx(0.5 - 0.4)
    assert values["disparate_impact"] == pytest.approx(0.5 / 0.4)
    assert values["equal_opportunity_difference"] == pytest.approx(0.8 - 0.4)
    assert values["average_odds_difference"] == pytest.approx(((0.2 - 0.4) + (0.8 - 0.4)) / 2)
    assert values["error_rate_difference"] == pytest.approx(0.2 - 0.5)
    assert groups["B"].status["reference"] == "reference" and "reference" not in groups["B"].comparisons
    assert groups["C"].status == {"reference": "insufficient_data", "rest": "insufficient_data"}
    rest = {name: judged.value for name, judged in groups["A"].comparisons["rest"].items()}
    assert rest["error_rate_difference"] == pytest.approx(0.2 - 7 / 12)  # B and C: 7 errors in 12


def test_correct_outcome_is_accuracy_parity() -> None:
    partition = build_partition(TABLE, ["race"], [F, M])
    result = audit_partition(partition, outcomes_for([F, M], F), "B", "test", {}, settings())
    correct = result.outcomes[CORRECT].groups["A"]
    assert set(correct.comparisons["reference"]) == set(CORRECT_METRICS)
    assert correct.rates["selection_rate"].value == pytest.approx(0.8)  # = accuracy
    assert correct.comparisons["reference"]["statistical_parity_difference"].value == pytest.approx(0.8 - 0.5)


def test_multiclass_target_audits_each_class_one_vs_rest_and_correct() -> None:
    labels = ["East Asian", "White", "Black"]
    table = pd.DataFrame({"age": ["20-29"] * 6 + ["30-39"] * 6,
                          "label": labels * 4, "pred": labels * 3 + ["White", "Black", "East Asian"]})
    outcomes = outcomes_for(labels, "East Asian")
    assert [o.name for o in outcomes] == ["East Asian", CORRECT, "White", "Black"]
    result = audit_partition(build_partition(table, ["age"], labels), outcomes, "20-29", "t", {},
                             settings(min_group_size=1))
    older = result.outcomes[CORRECT].groups["30-39"]
    assert older.rates["accuracy"].value == pytest.approx(0.5)
    assert older.comparisons["reference"]["statistical_parity_difference"].value == pytest.approx(-0.5)


@pytest.fixture
def stage_files(tmp_path: Path):
    """Predictions, manifest and datasheet for a tiny audit; train knows a group the test split lacks."""
    predictions = TABLE.assign(id=[f"val/{i}" for i in range(len(TABLE))], age="20-29", gender=TABLE["label"])
    predictions.to_parquet(tmp_path / "predictions.parquet")
    train = pd.DataFrame({"race": ["A"] * 9 + ["B"] * 5 + ["C"] * 2 + ["Indian"] * 3, "age": "20-29", "split": "train"})
    train.to_parquet(tmp_path / "manifest.parquet")
    datasheet = {"dataset": "t", "target": "gender", "labels": [F, M]}
    (tmp_path / "datasheet.json").write_text(json.dumps(datasheet))

    def run(params: Audit, protected=("race", "age"), out: str = "fairness.json", *,
            reference: dict[str, str] | None = None, intersections: tuple = ()) -> dict:
        dataset = Dataset(name="t", format="fairface", path="", padding=0.25, target="gender", protected=protected,
                          reference=reference or {}, intersections=intersections)
        audit("b", {0: tmp_path / "predictions.parquet"}, tmp_path, dataset, params, tmp_path / out)
        return json.loads((tmp_path / out).read_text())
    return tmp_path, run


def test_stage_writes_every_partition_outcome_and_summary(stage_files) -> None:
    _, run = stage_files
    result = run(audit_params(), intersections=(("race", "age"),))
    assert result["favorable_label"] == F and result["n"] == 22
    assert set(result["partitions"]) == {"race", "age", "race × age"}
    race = result["partitions"]["race"]
    assert race["reference"] == "A" and "largest race group in train (9 images)" in race["reference_reason"]
    assert [o["name"] for o in result["outcomes"]] == [F, CORRECT]
    b = race["outcomes"][F]["groups"]["B"]
    entry = b["vs_reference"]["error_rate_difference"]
    assert entry["value"] == pytest.approx(0.3) and entry["ci"][0] <= 0.3 <= entry["ci"][1]
    assert entry["verdict"] in ("pass", "fail", "inconclusive") and entry["explanation"]
    assert set(b["vs_reference"]) == set(COMPARISONS) and set(b["rates"]["accuracy"]) == {"value", "ci"}
    assert result["summary"]["verdict"] in ("fail", "inconclusive")
    assert result["differential_fairness"]["outcomes"][F]["value"] > 0


def test_stage_writes_hand_computed_per_label_performance(stage_files) -> None:
    """TABLE: 11 true Female (6 predicted Female), 11 true Male (7 predicted Male, 4 Female)."""
    _, run = stage_files
    result = run(audit_params())
    labels = result["per_label"]
    assert list(labels) == [F, M] and labels[F]["n"] == labels[M]["n"] == 11
    expected = {F: (6 / 10, 6 / 11, 12 / 21), M: (7 / 12, 7 / 11, 14 / 23)}
    for label, (precision, recall, f1) in expected.items():
        got = [labels[label][score]["value"] for score in ("precision", "recall", "f1")]
        assert got == pytest.approx([precision, recall, f1], abs=1e-6), label
        low, high = labels[label]["f1"]["ci"]
        assert low <= labels[label]["f1"]["value"] <= high
    assert result["group_fairness"] == {"measured": True, "reason": None}
    assert result["settings"]["bootstrap"]["per_label_stratified_by"].startswith("race × age")  # the audit's draw
    fairness = parse_fairness(result, "fairness.json")
    assert fairness.per_label[M].recall.value == pytest.approx(7 / 11, abs=1e-6)


def test_no_protected_attributes_reports_per_label_only_and_says_why(stage_files) -> None:
    _, run = stage_files
    result = run(audit_params(), protected=())
    assert result["partitions"] == {} and result["differential_fairness"] is None
    assert result["summary"] == {"verdict": None, "verdict_reason": None, "failing": [], "worst_group": {}}
    assert result["group_fairness"]["measured"] is False
    assert "`protected` list in params.yaml is empty" in result["group_fairness"]["reason"]
    assert "Only per-label performance is reported" in result["group_fairness"]["reason"]
    assert result["per_label"][F]["precision"]["value"] == pytest.approx(0.6)
    fairness = parse_fairness(result, "fairness.json")
    assert fairness.verdict is None and fairness.differential_fairness is None and not fairness.partitions


def test_differential_fairness_of_a_single_attribute(stage_files) -> None:
    _, run = stage_files
    edf = run(audit_params(), protected=("race",))["differential_fairness"]
    assert edf["attributes"] == ["race"] and edf["groups"] == 3  # A, B, C; Indian is absent from the test split
    assert edf["outcomes"][F]["value"] > 0


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f["per_label"].pop(M), "missing `per_label.Male`"),
    (lambda f: f["group_fairness"].update(measured=False), "`group_fairness.reason` must be null when measured"),
    (lambda f: f["group_fairness"].update(measured=False, reason="none"),
     "`group_fairness.measured` is false, yet `partitions`, `summary.verdict`, `differential_fairness` hold"),
    (lambda f: f["group_fairness"].update(measured="no"), "`group_fairness.measured` must be true or false"),
])
def test_reader_refuses_inconsistent_per_label_or_group_fairness(stage_files, change, message: str) -> None:
    _, run = stage_files
    result = run(audit_params())
    change(result)
    with pytest.raises(FairvisionError, match=re.escape(f"fairness.json: {message}")):
        parse_fairness(result, "fairness.json")


def test_group_absent_from_test_is_reported_with_n_0(stage_files) -> None:
    _, run = stage_files
    race = run(audit_params())["partitions"]["race"]
    assert race["groups"]["Indian"] == {"n_train": 3, "n_test": 0}
    indian = race["outcomes"][F]["groups"]["Indian"]
    assert indian["n"] == 0 and indian["status"]["reference"] == "insufficient_data"
    assert indian["rates"]["accuracy"]["ci"] == [None, None]


def test_the_audit_warns_about_every_group_too_small_to_judge(stage_files, caplog) -> None:
    """The warning `prepare` used to write, now the audit's: the groups its tables leave unjudged, absent ones
    with 0."""
    _, run = stage_files
    with caplog.at_level(logging.WARNING, logger="fairvision.audit.stage"):
        result = run(audit_params(min_group_size=5))
    sizes = {g: v["n_test"] for g, v in result["partitions"]["race"]["groups"].items()}
    small = sorted(g for g, n in sizes.items() if n < 5)
    assert "Indian" in small and sizes["Indian"] == 0
    lines = [r.getMessage() for r in caplog.records if "fewer than audit.min_group_size (5)" in r.getMessage()]
    assert sorted(line.split("test group race = ")[1].split(" has ")[0] for line in lines
                  if "test group race = " in line) == small
    assert "b: test group race = Indian has 0 images, fewer than audit.min_group_size (5)" in " ".join(lines)


def test_infinite_disparate_impact_is_named_and_never_pass(tmp_path: Path) -> None:
    table = pd.DataFrame({"race": ["A"] * 60 + ["B"] * 60, "label": [F, M] * 60,
                          "pred": [M] * 60 + [F, M] * 30})  # A selects nobody: its selection rate is 0
    partition = build_partition(table, ["race"], [F, M])
    result = audit_partition(partition, outcomes_for([F, M], F), "A", "t", {},
                             settings(min_group_size=50, min_events=0))
    b = result.outcomes[F].groups["B"]
    disparate_impact = b.comparisons["reference"]["disparate_impact"]
    assert disparate_impact.value == np.inf and disparate_impact.verdict == "inconclusive"
    assert "infinite" in disparate_impact.undefined and "infinite" in disparate_impact.explanation
    assert b.status["reference"] != "pass"
    ppv = result.outcomes[F].groups["A"].comparisons["rest"]["false_discovery_rate_difference"]
    assert "no predicted positives" in ppv.undefined and ppv.verdict == "inconclusive"  # AIF360 reports 0 here
    from fairvision.audit.serialize import judged
    assert judged(disparate_impact)["value"] is None and json.dumps(judged(disparate_impact), allow_nan=False)
    assert judged(ppv)["value"] is None and judged(ppv)["aif360_value"] == 0.0  # AIF360's convention, kept apart


def test_zero_events_get_an_exact_width_and_count_as_evidence() -> None:
    """B has no false positive in 30 negatives: the bootstrap's FPR is 0 in every replicate, [0, 0]. Its
    Clopper–Pearson bound gives the interval its honest width, and 0 of 30 against A's 0.2 is evidence: it
    may fail, it can never pass (min_events blocks only a pass)."""
    table = pd.DataFrame({"race": ["A"] * 200 + ["B"] * 60,
                          "label": [F, M] * 100 + [F] * 30 + [M] * 30,
                          "pred": ([F, F] + [F, M] * 4) * 20 + [F] * 30 + [M] * 30})  # B: every prediction right
    partition = build_partition(table, ["race"], [F, M])
    result = audit_partition(partition, outcomes_for([F, M], F), "A", "t", {}, settings(min_group_size=50))
    b = result.outcomes[F].groups["B"]
    ratio = b.comparisons["reference"]["false_positive_rate_ratio"]
    level = result.outcomes[F].levels["reference"].value
    exact_upper = 1 - ((1 - level) / 2) ** (1 / 30)  # Clopper–Pearson for 0 of 30 at the table's level
    assert ratio.value == 0.0 and ratio.low == 0.0 and ratio.high >= exact_upper / 0.2 * 0.9
    assert ratio.verdict != "pass"
    fpr = b.rates["false_positive_rate"]
    assert (fpr.value, fpr.low) == (0.0, 0.0) and fpr.high == pytest.approx(1 - 0.025 ** (1 / 30))
    difference = b.comparisons["reference"]["false_positive_rate_difference"]
    assert difference.high > difference.value + 0.05  # widened by what 0 of 30 may hide


def test_zero_events_with_a_large_gap_fail() -> None:
    """Latino_Hispanic in the demo: never predicted Female (0 of 500) while the reference is at 0.46."""
    table = pd.DataFrame({"race": ["A"] * 500 + ["B"] * 500, "label": [F, M] * 500,
                          "pred": ([F] * 46 + [M] * 54) * 5 + [M] * 500})
    partition = build_partition(table, ["race"], [F, M])
    result = audit_partition(partition, outcomes_for([F, M], F), "A", "t", {}, settings(min_group_size=50))
    b = result.outcomes[F].groups["B"].comparisons["reference"]
    for metric in ("statistical_parity_difference", "equal_opportunity_difference"):
        assert b[metric].verdict == "fail", b[metric].explanation
        assert b[metric].high > b[metric].value  # the exact bound of 0 of 500 widens the bootstrap's side
    assert "rests on 0 of" not in b["statistical_parity_difference"].explanation


def test_few_events_block_a_pass_but_not_a_fail() -> None:
    table = pd.DataFrame({"race": ["A"] * 2000 + ["B"] * 2000, "label": [F, M] * 2000,
                          "pred": [F, M] * 999 + [M, F] + [F, M] * 999 + [M, F]})  # 2 errors in each group
    partition = build_partition(table, ["race"], [F, M])
    result = audit_partition(partition, outcomes_for([F, M], F), "A", "t", {}, settings(min_group_size=50))
    erd = result.outcomes[F].groups["B"].comparisons["reference"]["error_rate_difference"]
    assert erd.verdict == "inconclusive" and erd.explanation.startswith("Not certified")
    assert "rests on 2 of 2000" in erd.explanation


def test_zero_tolerance_judges_without_dividing_by_zero(stage_files) -> None:
    _, run = stage_files
    result = run(audit_params(tolerance=Tolerance(difference=0.0, ratio=(1.0, 1.0), metrics={})))
    entry = result["partitions"]["race"]["outcomes"][F]["groups"]["B"]["vs_reference"]["error_rate_difference"]
    assert entry["verdict"] in ("fail", "inconclusive") and "[0, 0]" in entry["explanation"]


def test_unknown_favourable_label_and_reference_fail_cleanly(stage_files) -> None:
    tmp_path, run = stage_files
    with pytest.raises(FairvisionError, match="favorable_label"):
        run(audit_params(favorable_label="Other"), out="x.json")
    with pytest.raises(FairvisionError, match=r"datasets\.t\.reference\.race"):
        run(audit_params(), out="x.json", reference={"race": "Martian", "age": "auto"})
    assert not (tmp_path / "x.json").exists()


def test_auto_reference_is_largest_train_group() -> None:
    assert resolve_reference("auto", "race", {"A": 2, "B": 5})[0] == "B"
    assert resolve_reference("A", "race", {"A": 2, "B": 5}, "datasets.d.reference") == (
        "A", "set in params.yaml (`datasets.d.reference.race`)")


def test_importing_the_audit_changes_no_logging_configuration() -> None:
    code = ("import logging; before = list(logging.getLogger().filters); "
            "import fairvision.audit.stage, fairvision.audit.crosscheck; "
            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import aif360_reference as a; a._import_metrics(); "
            "assert logging.getLogger().filters == before, logging.getLogger().filters")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(("value", "low", "high", "expected"), [
    (0.0, -0.05, 0.05, "pass"), (0.2, 0.15, 0.25, "fail"), (-0.2, -0.25, -0.15, "fail"),
    (0.08, 0.02, 0.14, "inconclusive"), (float("nan"), float("nan"), float("nan"), "inconclusive"),
])
def test_verdict_rule(value: float, low: float, high: float, expected: str) -> None:
    outcome, explanation = verdict("error_rate_difference", value, low, high, Band(-0.1, 0.1), 0.95)
    assert outcome == expected and explanation.endswith(".")


def test_stratified_resample_keeps_group_sizes() -> None:
    counts = np.array([[[30, 5], [4, 1]], [[0, 0], [0, 0]], [[1, 0], [0, 0]]])
    replicates = stratified_resample(counts, 500, np.random.default_rng(0))
    assert replicates.shape == (500, 3, 2, 2)
    np.testing.assert_array_equal(replicates.sum(axis=(2, 3)), np.broadcast_to([40, 0, 1], (500, 3)))
    assert replicates[:, 0, 0, 0].mean() == pytest.approx(30, abs=1)


def test_the_draw_is_the_same_on_any_number_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block of replicates has its own child stream: one core or many, the same replicates."""
    counts = np.random.default_rng(1).integers(0, 40, size=(9, 2, 2))
    monkeypatch.setattr(bootstrap, "available_cores", lambda: 2)
    parallel = stratified_resample(counts, 3 * bootstrap.DRAW_BLOCK + 17, np.random.default_rng(5))
    monkeypatch.setattr(bootstrap, "available_cores", lambda: 1)
    serial = stratified_resample(counts, 3 * bootstrap.DRAW_BLOCK + 17, np.random.default_rng(5))
    np.testing.assert_array_equal(parallel, serial)
    assert len(np.unique(parallel[:, 0, 0, 0])) > 5  # blocks differ: not one stream repeated


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_coarsening_sums_finest_groups_whatever_their_order(dtype: type) -> None:
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 1000, size=(50, 6, 2, 2)).astype(dtype)
    for membership, n_groups in (([0, 0, 1, 1, 2, 2], 3), ([2, 0, 1, 0, 2, 1], 3), ([3, 1, 0, 5, 4, 2], 6),
                                 ([0, 1, 2, 3, 4, 5], 6)):
        expected = np.zeros((50, n_groups, 2, 2), dtype=dtype)
        for finest, coarse in enumerate(membership):
            expected[:, coarse] += counts[:, finest]
        summed = coarsen(counts, np.array(membership), n_groups)
        assert summed.dtype == counts.dtype
        np.testing.assert_array_equal(summed, expected)
    big = np.full((2, 3, 2, 2), 2**23, dtype=np.int64)  # sums past 2^24: float32 would round them
    big[0, 0, 0, 0] += 1
    np.testing.assert_array_equal(coarsen(big, np.array([0, 0, 0]), 1)[:, 0], big.sum(axis=1))


def test_simultaneous_level_lies_between_none_and_bonferroni_and_covers_jointly() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(20_000, 20))  # independent metrics: about Bonferroni, never above it
    simultaneous = family_level(samples, 0.95, "simultaneous")
    assert 0.995 < simultaneous <= family_level(samples, 0.95, "bonferroni")
    assert family_level(samples, 0.95, "none") == 0.95
    correlated = samples[:, :1] + 0.1 * samples  # nearly one metric: far narrower than Bonferroni
    assert family_level(correlated, 0.95, "simultaneous") < 0.97
    bounds = percentile_intervals(samples, simultaneous)
    inside = ((samples >= bounds[:, 0]) & (samples <= bounds[:, 1])).all(axis=1).mean()
    assert inside >= 0.95 - 0.005


def test_percentile_intervals_skip_undefined_replicates() -> None:
    samples = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.inf], [np.nan, np.nan]])
    bounds = percentile_intervals(samples, 0.5)
    np.testing.assert_allclose(bounds[0], np.quantile([1.0, 2.0, 3.0], [0.25, 0.75]))
    assert np.isnan(bounds[1]).all()


def test_ties_are_ranked_by_what_lies_strictly_beyond_them() -> None:
    """Discrete counts tie: an arbitrary order among ties pushed tied replicates to the edge and the level
    up (0.976 where 0.95 suffices). Ranked by what lies strictly beyond, a twin-valued metric asks no more
    than the pointwise level, and a constant metric asks nothing."""
    rng = np.random.default_rng(1)
    coarse = rng.binomial(40, 0.5, size=(20_000, 1)).astype(float)  # few distinct values, many ties
    alone = family_level(np.hstack([coarse, np.ones((20_000, 1))]), 0.95, "simultaneous")
    family = np.hstack([coarse, coarse, np.ones((20_000, 1))])
    level = family_level(family, 0.95, "simultaneous")
    assert level == alone  # an exact twin changes nothing

    def inside(at: float) -> float:
        low, high = percentile_intervals(coarse, at)[0]
        return float(((coarse >= low) & (coarse <= high)).mean())
    assert inside(level) >= 0.95 and level < 0.97  # enough, without the push that arbitrary tie ranks gave


def test_a_level_beyond_the_resamples_is_flagged_at_its_ceiling_never_100_percent() -> None:
    samples = np.random.default_rng(2).normal(size=(1000, 84))  # Bonferroni would need 0.9994
    level = family_interval_level(samples, 0.95, "simultaneous")
    assert level.at_ceiling and level.value < 1.0 and level.value == pytest.approx(1 - 2 * TAIL_REPLICATES / 999)
    assert resamples_for(84, 0.95, 1000, 10**6) == 2 * TAIL_REPLICATES * 84 / 0.05 + 1
    enough = np.random.default_rng(3).normal(size=(resamples_for(84, 0.95, 1000, 10**6), 84))
    assert not family_interval_level(enough, 0.95, "simultaneous").at_ceiling


@pytest.mark.parametrize("family", [1, 7, 84, 217])
def test_the_resamples_for_a_family_resolve_its_bonferroni_level(family: int) -> None:
    """Bonferroni is the cap of the calibrated level (reached with ties): it must never sit past the ceiling."""
    resamples = resamples_for(family, 0.95, 10, 10**6)
    samples = np.random.default_rng(family).normal(size=(resamples, family))
    level = family_interval_level(samples, 0.95, "bonferroni")
    assert not level.at_ceiling, level


@pytest.mark.parametrize("method", ["simultaneous", "bonferroni", "none"])
@pytest.mark.parametrize("with_gaps", [False, True])
@pytest.mark.parametrize("block_bytes", [intervals.BLOCK_BYTES, 3 * 8000 * 8])
def test_one_pass_family_intervals_equal_calibrating_then_cutting(
    with_gaps: bool, method: str, block_bytes: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Block by block (three rows at a time, or all at once), the level and bounds are the exact path's."""
    monkeypatch.setattr(intervals, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(4)
    base = rng.binomial(60, 0.3, size=(8000, 1))
    samples = np.hstack([base + rng.binomial(60, 0.3, size=(8000, 30)), rng.normal(size=(8000, 10))]) / 60
    if with_gaps:
        samples[rng.random(samples.shape) < 0.002] = np.nan
    family = np.zeros(samples.shape[1], dtype=bool)
    family[::2] = True
    level, bounds = family_intervals(np.ascontiguousarray(samples.T), family, 0.95, method)
    expected = family_interval_level(samples[:, family], 0.95, method)
    assert level == expected
    np.testing.assert_allclose(bounds, percentile_intervals(samples, expected.value), rtol=1e-6)


def test_nothing_judged_is_inconclusive_not_pass() -> None:
    assert worst([]) == "inconclusive" and worst(["pass", "pass"]) == "pass"


def test_every_partition_rests_on_one_draw(stage_files) -> None:
    """The Theil index is a function of the pooled cells: one draw gives it one interval in every table."""
    _, run = stage_files
    result = run(audit_params(min_group_size=1), intersections=(("race", "age"),))
    theil = {name: p["outcomes"][F]["theil_index"]["ci"] for name, p in result["partitions"].items()}
    assert len({tuple(ci) for ci in theil.values()}) == 1, theil
    edf = result["differential_fairness"]["outcomes"][F]
    assert edf["ci"][0] <= edf["value"] <= edf["ci"][1]  # one-sided: [0, upper], holding its point


@pytest.mark.parametrize(("column", "where"), [("label", "predictions"), ("race", "predictions"),
                                               ("race", "manifest")])
def test_missing_values_are_rejected_naming_column_and_count(stage_files, column: str, where: str) -> None:
    tmp_path, run = stage_files
    name = "predictions.parquet" if where == "predictions" else "manifest.parquet"
    frame = pd.read_parquet(tmp_path / name)
    frame.loc[frame.index[:2], column] = None
    frame.to_parquet(tmp_path / name)
    with pytest.raises(FairvisionError, match=rf"{name}: missing values in `{column}` \(2 of \d+ rows\)"):
        run(audit_params(), out="x.json")
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda d: d.drop(columns="pred"), r"missing column\(s\) `pred`"),
    (lambda d: d.iloc[:0], "the prediction table has no rows"),
])
def test_broken_prediction_tables_are_named_errors(stage_files, breakage, message: str) -> None:
    tmp_path, run = stage_files
    breakage(pd.read_parquet(tmp_path / "predictions.parquet")).to_parquet(tmp_path / "predictions.parquet")
    with pytest.raises(FairvisionError, match=message):
        run(audit_params(), out="x.json")


def test_datasheet_without_labels_is_a_named_error(stage_files) -> None:
    tmp_path, run = stage_files
    (tmp_path / "datasheet.json").write_text(json.dumps({"dataset": "t", "target": "gender"}))
    with pytest.raises(FairvisionError, match=r"datasheet.json: missing `labels`"):
        run(audit_params(), out="x.json")


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.update(accuracy="0.8"), "`accuracy` must be a finite number or null, got '0.8'"),
    (lambda f: f["partitions"]["race"]["outcomes"]["Female"]["groups"]["B"]["vs_reference"][
        "error_rate_difference"].update(value=float("nan")),
     "`partitions.race.outcomes.Female.groups.B.vs_reference.error_rate_difference.value` must be a finite number"),
])
def test_reader_names_a_bad_number(stage_files, change, message: str) -> None:
    _, run = stage_files
    result = run(audit_params())
    change(result)
    with pytest.raises(FairvisionError, match=re.escape(message)):
        parse_fairness(result, "fairness.json")


def test_two_label_cells_are_the_general_sums() -> None:
    """The gather used for two labels gives the cells the general sums give (read off a K = 2 confusion)."""
    from fairvision.audit.outcomes import outcomes_for

    confusion = np.random.default_rng(9).integers(0, 50, size=(5, 3, 2, 2)).astype(np.int32)
    for outcome in [*outcomes_for(["Female", "Male"], "Male"), *outcomes_for(["Female", "Male"], "Female")]:
        got = outcome.cells(confusion, ["Female", "Male"])
        if outcome.label is None:
            correct = confusion[..., 0, 0] + confusion[..., 1, 1]
            expected = np.stack([correct, 0 * correct, confusion.sum(axis=(-2, -1)) - correct, 0 * correct], -1)
        else:
            k, o = ["Female", "Male"].index(outcome.label), 1 - ["Female", "Male"].index(outcome.label)
            expected = np.stack([confusion[..., k, k], confusion[..., o, k], confusion[..., k, o],
                                 confusion[..., o, o]], axis=-1)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == confusion.dtype


def test_absolute_odds_intervals_reach_parity_when_both_gaps_do() -> None:
    """|x| resampled never reaches 0; the gaps' intervals mapped through |·| do, and hold when the gaps' hold."""
    from fairvision.audit.engine import absolute_odds_intervals

    gaps = {"equal_opportunity_difference": (-0.04, 0.06), "false_positive_rate_difference": (-0.03, 0.02),
            "average_abs_odds_difference": (0.01, 0.05), "equalized_odds_difference": (0.02, 0.06)}
    assert absolute_odds_intervals(gaps) == {"average_abs_odds_difference": (0.0, 0.5 * (0.06 + 0.03)),
                                             "equalized_odds_difference": (0.0, 0.06)}
    apart = gaps | {"false_positive_rate_difference": (0.12, 0.2)}
    assert absolute_odds_intervals(apart)["equalized_odds_difference"] == (0.12, 0.2)  # fails as the FPR gap does
    undefined = gaps | {"equal_opportunity_difference": (math.nan, math.nan)}
    assert all(math.isnan(b) for v in absolute_odds_intervals(undefined).values() for b in v)
    assert absolute_odds_intervals({"statistical_parity_difference": (0.0, 0.1)}) == {}


def test_absolute_odds_intervals_cover_parity_in_a_table_without_bias() -> None:
    """Fresh simulated tables with no gap: the published AAOD and EqOD intervals contain their true value, 0."""
    rng = np.random.default_rng(2024)
    covered = total = 0
    for run in range(5):
        truth = rng.random(4000) < 0.5
        pred = np.where(rng.random(4000) < 0.85, truth, ~truth)
        frame = pd.DataFrame({"id": np.arange(4000), "label": np.where(truth, "yes", "no"),
                              "pred": np.where(pred, "yes", "no"), "g": rng.choice(["a", "b", "c", "d"], 4000)})
        settings = Settings(min_group_size=50, resamples=1000, seed=run, level=0.95,
                            multiple_comparisons="simultaneous", bands=BANDS)
        run_ = audit_table(frame, frame, ["no", "yes"], "yes", ["g"], [], {}, settings)
        table = run_.results[0].outcomes["yes"]
        for group in table.groups.values():
            for metric in ("average_abs_odds_difference", "equalized_odds_difference"):
                judged = group.comparisons.get("reference", {}).get(metric)
                if judged is not None and math.isfinite(judged.low):
                    total += 1
                    covered += judged.low <= 0.0 <= judged.high
    assert total >= 20 and covered == total


def test_a_rate_on_few_events_gets_its_exact_width() -> None:
    """1 false positive of 25 negatives: the bootstrap barely moves it; the FPR gap's interval must reach the
    Clopper–Pearson bound of 1/25 (against a reference with many events), so it cannot look certain."""
    from fairvision.audit.exact import exact_bounds

    # (true label, prediction) counts per group, labels ("yes", "no"): TP, FN, FP, TN
    counts = {"ref": (400, 100, 50, 450), "small": (20, 5, 1, 24)}
    rows = [(group, truth, pred) for group, (tp, fn, fp, tn) in counts.items()
            for truth, pred, n in (("yes", "yes", tp), ("yes", "no", fn), ("no", "yes", fp), ("no", "no", tn))
            for _ in range(n)]
    frame = pd.DataFrame(rows, columns=["g", "label", "pred"]).assign(id=lambda f: np.arange(len(f)))
    settings = Settings(min_group_size=20, resamples=2000, seed=0, level=0.95, multiple_comparisons="simultaneous",
                        bands=BANDS, min_events=5)
    run = audit_table(frame, frame, ["no", "yes"], "yes", ["g"], [], {"g": "ref"}, settings)
    table = run.results[0].outcomes["yes"]
    judged = table.groups["small"].comparisons["reference"]["false_positive_rate_difference"]
    level = table.levels["reference"].value
    upper = exact_bounds(1, 25, level)[1]
    assert judged.high >= upper - 50 / 500 - 1e-9  # the small group's FPR may be as high as its exact bound
    assert judged.verdict != "pass"
