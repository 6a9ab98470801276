"""The plants' closed-form true gaps, against a fresh 200,000-row sample."""

from __future__ import annotations

import numpy as np
import pytest

from fairvision.discover import Cohort
from fairvision.discover.simulate import ATTRIBUTES, PLANTS, Plant, share


def test_closed_form_gaps_match_a_large_fresh_sample() -> None:
    plant = Plant(PLANTS["5%"], 0.2)
    table = plant.draw(200_000, 7700)
    wrong = (table["label"] != table["pred"]).to_numpy()
    for cohort in (PLANTS["5%"], Cohort.of(ATTRIBUTES, age="10-19"), Cohort.of(ATTRIBUTES, gender="Male"),
                   Cohort.of(ATTRIBUTES, gender="Female", age="10-19", service_test="True"),
                   Cohort.of(ATTRIBUTES, race="Black", age=["10-19", "20-29"])):
        inside = cohort.covers_rows(table)
        observed = wrong[inside].mean() - wrong[~inside].mean()
        se = np.sqrt(0.2 * 0.8 * (1 / inside.sum() + 1 / (~inside).sum()))
        assert abs(observed - plant.true_gap(cohort)) < 4 * se, cohort.name
        assert inside.mean() == pytest.approx(share(cohort), abs=4 * np.sqrt(share(cohort) / 200_000))
    assert plant.true_gap(PLANTS["5%"]) == pytest.approx(0.2)
    assert plant.true_gap(Cohort.of(ATTRIBUTES, gender="Male")) < 0  # disjoint from the plant: below the rest
