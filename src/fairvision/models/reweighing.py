"""Reweighing (Kamiran & Calders, 2012) by AIF360, as per-example loss weights for training.

Every train example of group g (its values of the chosen protected attributes, jointly) and
label y gets W(g, y) = P(g) P(y) / P(g, y): the weights under which group and label are
independent in the train split, so an under-represented or mislabelled group no longer
teaches the model that its group predicts its label. AIF360's ``Reweighing`` computes exactly
this for one privileged group and one favourable label; each observed (g, y) cell is one fit
with g as the privileged group and y as the favourable label, which extends it to any number
of groups and classes.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd

from fairvision.aif360_import import quiet_aif360_import
from fairvision.groups import group_keys, partition_name
from fairvision.errors import FairvisionError


@dataclasses.dataclass(frozen=True)
class Reweighing:
    """The weight of every (group, label) cell of train, and of every train example by id."""

    partition: str  # e.g. "race" or "race × age"
    cells: tuple[tuple[str, str, int, float], ...]  # (group, label, train examples, weight)
    by_id: pd.Series  # id -> weight

    def record(self) -> dict:
        """The weights as train.json keeps them."""
        return {"partition": self.partition,
                "cells": [{"group": g, "label": y, "n": n, "weight": round(w, 6)} for g, y, n, w in self.cells]}


def reweighing(train: pd.DataFrame, attributes: Sequence[str], where: str) -> Reweighing:
    """AIF360 Reweighing weights over ``attributes`` × label for the rows of ``train`` (id, label, attributes).

    ``where`` names the params.yaml key in errors (e.g. ``backbones.small_cnn+reweighing.reweighing``).
    """
    missing = [attribute for attribute in attributes if attribute not in train.columns]
    if not attributes or missing:
        raise FairvisionError(f"params.yaml: `{where}` must list attributes of the dataset; "
                              f"{', '.join(missing) or 'none given'} not among {', '.join(_attributes(train))}")
    groups = group_keys(train, list(attributes))
    cells = []
    for (group, label), n in pd.crosstab(groups, train["label"]).stack().items():
        if n:
            cells.append((str(group), str(label), int(n), _aif360_weight(groups == group, train["label"] == label)))
    weight = {(g, y): w for g, y, _, w in cells}
    by_id = pd.Series([weight[key] for key in zip(groups, train["label"])], index=train["id"].to_numpy(),
                      dtype=np.float64)
    return Reweighing(partition_name(tuple(attributes)), tuple(cells), by_id)


def _aif360_weight(in_group: pd.Series, has_label: pd.Series) -> float:
    """AIF360 Reweighing's weight for the examples that are in the group and have the label."""
    with quiet_aif360_import():
        from aif360.algorithms.preprocessing import Reweighing as AIF360Reweighing
        from aif360.datasets import BinaryLabelDataset

    frame = pd.DataFrame({"group": in_group.to_numpy(np.float64), "label": has_label.to_numpy(np.float64)})
    dataset = BinaryLabelDataset(df=frame, label_names=["label"], protected_attribute_names=["group"],
                                 favorable_label=1.0, unfavorable_label=0.0)
    with np.errstate(divide="ignore"):  # the cells not asked for may be empty; their weights are unused
        fitted = AIF360Reweighing(unprivileged_groups=[{"group": 0.0}], privileged_groups=[{"group": 1.0}]).fit(dataset)
    return float(fitted.w_p_fav)


def _attributes(train: pd.DataFrame) -> list[str]:
    return [column for column in train.columns if column not in ("id", "label", "split")]
