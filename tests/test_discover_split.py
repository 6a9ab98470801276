"""The explore / confirm split: stratified, deterministic, and blind to the predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairvision.discover.simulate import ATTRIBUTES, PLANTS, Plant
from fairvision.discover.split import explore_mask

STRATA = ("label", *ATTRIBUTES)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return Plant(PLANTS["5%"], 0.1).draw(6_000, seed=11)


def test_every_stratum_is_halved(table: pd.DataFrame) -> None:
    explore = explore_mask(table, STRATA, seed=0)
    per_stratum = table.assign(explore=explore).groupby(list(STRATA))["explore"].agg(["sum", "size"])
    assert ((2 * per_stratum["sum"] - per_stratum["size"]).abs() <= 1).all()
    odd = per_stratum[per_stratum["size"] % 2 == 1]
    extra_to_explore = (2 * odd["sum"] > odd["size"]).mean()
    assert 0.25 < extra_to_explore < 0.75, "odd rows out all go to one half"


def test_same_rows_in_any_order_split_the_same(table: pd.DataFrame) -> None:
    first = pd.Series(explore_mask(table, STRATA, seed=3), index=table.index)
    shuffled = table.sample(frac=1.0, random_state=5)
    again = pd.Series(explore_mask(shuffled, STRATA, seed=3), index=shuffled.index)
    assert first.equals(again.reindex(table.index))


def test_seed_changes_the_split_and_predictions_do_not(table: pd.DataFrame) -> None:
    base = explore_mask(table, STRATA, seed=0)
    flipped = table.assign(pred=np.where(table["pred"] == "yes", "no", "yes"))
    assert np.array_equal(base, explore_mask(flipped, STRATA, seed=0))
    assert 0.4 < (base != explore_mask(table, STRATA, seed=1)).mean() < 0.6


def test_repeated_ids_are_refused(table: pd.DataFrame) -> None:
    doubled = pd.concat([table.head(3), table.head(1)])
    with pytest.raises(ValueError, match="id"):
        explore_mask(doubled, STRATA, seed=0)
