"""Discovery end to end on simulated tables: silence on the null, the plant found with its members, lineage."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact

from fairvision.audit.measures import COMPARISONS
from fairvision.audit.verdicts import Band
from fairvision.discover import Cohort, Settings, discover
from fairvision.discover.cohorts import cell_table
from fairvision.discover.fisher import greater_p_values
from fairvision.discover.serialize import to_json
from fairvision.discover.simulate import ATTRIBUTES, FAVORABLE, LABELS, Plant
from fairvision.discover.split import explore_mask

BANDS = {name: Band(-0.1, 0.1) for name, c in COMPARISONS.items() if c.kind == "difference"}
SETTINGS = Settings(bands=BANDS, mdss_subsets=0)


def run(table: pd.DataFrame, settings: Settings = SETTINGS):
    return discover(table, labels=LABELS, favorable=FAVORABLE, attributes=ATTRIBUTES, settings=settings)


@pytest.mark.parametrize("seed", [7001, 7002, 7003])
def test_a_fair_model_gets_no_report(seed: int) -> None:
    found = run(Plant(None, 0.0).draw(20_000, seed))
    assert len(found.findings) == SETTINGS.max_candidates  # it searched and tested a full family...
    assert found.selected == ()  # ...and reported nothing


def test_reports_on_fair_models_are_rare() -> None:
    """40 fresh null tables of 2,000 rows: any report at most 5 times (expected 2 at the gate's 0.05; P(> 5) < 2 %)."""
    reported = sum(bool(run(Plant(None, 0.0).draw(2_000, (8000, r))).selected) for r in range(40))
    assert reported <= 5


def test_a_strong_plant_is_found_with_its_members() -> None:
    plant = Cohort.of(ATTRIBUTES, race="Black", age="20-29")
    table = Plant(plant, 0.3).draw(20_000, 7100)
    found = run(table)
    mine = [f for f in found.selected if f.candidate.cohort == plant and f.candidate.metric == "error_rate_difference"]
    assert len(mine) == 1
    finding = mine[0]
    assert finding.verdict == "fail" and finding.low > 0.1 and finding.lineage.own
    selected, tested = len(found.selected), len(found.findings)
    assert finding.level == pytest.approx(1 - selected * (1 - SETTINGS.level) / tested)  # Benjamini–Yekutieli's FCR
    # Its numbers are the confirm half's, counted straight from the rows.
    confirm = table[~explore_mask(table, ("label", *ATTRIBUTES), SETTINGS.seed)]
    members = (confirm["race"] == "Black") & (confirm["age"] == "20-29")
    wrong = confirm["label"] != confirm["pred"]
    assert (finding.total, finding.events) == (members.sum(), (members & wrong).sum())
    assert (finding.rest_total, finding.rest_events) == ((~members).sum(), (~members & wrong).sum())
    row = next(r for r in to_json(found)["cohorts"] if r["cohort"] == "race=Black × age=20-29"
               and r["metric"] == "error_rate_difference")
    assert row["conditions"] == {"race": ["Black"], "age": ["20-29"]} and row["verdict"] == "fail"


def test_an_intersection_of_a_failed_group_is_inherited() -> None:
    parent = Cohort.of(ATTRIBUTES, race="Black")
    found = run(Plant(parent, 0.25).draw(20_000, 7200))
    children = [f for f in found.selected if f.candidate.cohort.order == 2 and ("race", ("Black",)) in
                f.candidate.cohort.conditions]
    assert children, "the parent's gap makes its intersections selected too"
    assert all(not f.lineage.own and f.lineage.inherited_from == parent for f in children)
    assert any(f.candidate.cohort == parent and f.lineage.own for f in found.selected)


def test_exact_p_values_are_fishers() -> None:
    for a, n, b, m in [(30, 200, 300, 4000), (0, 50, 10, 900), (12, 12, 100, 1000)]:
        expected = fisher_exact([[a, n - a], [b, m - b]], alternative="greater")[1]
        assert greater_p_values(a, n, a + b, n + m) == pytest.approx(expected, rel=1e-9)


def test_settings_name_the_bad_knob() -> None:
    with pytest.raises(ValueError, match="discover.fdr"):
        Settings(bands=BANDS, fdr=1.5)
    with pytest.raises(ValueError, match="discover.metrics"):
        Settings(bands=BANDS, metrics=("statistical_parity_difference",))


def test_cell_counts_equal_the_rows() -> None:
    table = Plant(None, 0.0).draw(3_000, 7300)
    cells = cell_table(table, ATTRIBUTES, LABELS)
    assert cells.rows == len(table)
    cohort = Cohort.of(ATTRIBUTES, gender="Female", age=["50-59", "60-69"])
    counted = cells.counts([cohort], cells.confusion.reshape(len(cells.values), -1))[0]
    rows = table[cohort.covers_rows(table)]
    assert counted.sum() == len(rows)
    assert counted[0] == ((rows["label"] == "no") & (rows["pred"] == "no")).sum()
    assert np.array_equal(cohort.covers_rows(table), (table["gender"] == "Female").to_numpy()
                          & table["age"].isin(["50-59", "60-69"]).to_numpy())
