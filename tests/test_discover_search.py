"""The search sees the explore half only, screens by the power rule, and MDSS proposes multi-value subsets."""

from __future__ import annotations

import dataclasses

import numpy as np

from fairvision.audit.measures import COMPARISONS
from fairvision.audit.verdicts import Band
from fairvision.discover import Cohort, Settings, discover
from fairvision.discover.candidates import search
from fairvision.discover.cohorts import cell_table
from fairvision.discover.simulate import ATTRIBUTES, FAVORABLE, LABELS, Plant
from fairvision.discover.split import explore_mask

BANDS = {name: Band(-0.1, 0.1) for name, c in COMPARISONS.items() if c.kind == "difference"}
SETTINGS = Settings(bands=BANDS, mdss_subsets=0)


def test_candidates_do_not_change_when_the_confirm_half_does() -> None:
    table = Plant(Cohort.of(ATTRIBUTES, race="Indian", age="30-39"), 0.1).draw(8_000, 7400)
    confirm = ~explore_mask(table, ("label", *ATTRIBUTES), SETTINGS.seed)
    rng = np.random.default_rng(7401)
    altered = table.copy()
    altered.loc[confirm, "pred"] = rng.choice(LABELS, int(confirm.sum()))  # every confirm prediction redrawn
    before = discover(table, labels=LABELS, favorable=FAVORABLE, attributes=ATTRIBUTES, settings=SETTINGS)
    after = discover(altered, labels=LABELS, favorable=FAVORABLE, attributes=ATTRIBUTES, settings=SETTINGS)
    assert before.search.candidates == after.search.candidates
    assert [f.p_value for f in before.findings] != [f.p_value for f in after.findings]  # the confirm half did change


def test_small_cohorts_are_not_candidates_and_ranks_follow_the_explore_gap() -> None:
    table = Plant(Cohort.of(ATTRIBUTES, race="Black", gender="Male"), 0.15).draw(10_000, 7500)
    cells = cell_table(table[explore_mask(table, ("label", *ATTRIBUTES), 0)], ATTRIBUTES, LABELS)
    found = search(cells, FAVORABLE, SETTINGS)
    assert 0 < len(found.candidates) <= SETTINGS.max_candidates
    assert all(c.explore_total >= found.min_sizes[c.metric] for c in found.candidates)
    assert all(c.explore_z > 0 for c in found.candidates)
    z = [c.explore_z for c in found.candidates]
    assert z == sorted(z, reverse=True)
    assert found.candidates[0].cohort == Cohort.of(ATTRIBUTES, race="Black", gender="Male")
    fixed = search(cells, FAVORABLE, dataclasses.replace(SETTINGS, min_cohort_size=2_000))
    assert all(c.cohort.order == 1 for c in fixed.candidates)  # only single attributes hold 2,000 rows


def test_mdss_proposes_a_subset_no_intersection_names() -> None:
    ages = ["50-59", "60-69", "more than 70"]  # 5.5 % of the rows with gender: 330 per half, above the power rule
    plant = Cohort.of(ATTRIBUTES, gender="Female", age=ages)
    table = Plant(plant, 0.3).draw(12_000, 7600)
    cells = cell_table(table[explore_mask(table, ("label", *ATTRIBUTES), 0)], ATTRIBUTES, LABELS)
    settings = dataclasses.replace(SETTINGS, mdss_subsets=1, metrics=("error_rate_difference",))
    found = search(cells, FAVORABLE, settings)
    proposed = [c.cohort for c in found.candidates if c.source == "mdss"]
    assert plant in proposed
