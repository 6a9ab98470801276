"""How rows are keyed into groups: a partition's name and each row's group in it.

Core, shared by the params schema (its `reference` keys are partition names), the audit, the
training's reweighing and the explanations, so none of them imports another stage for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas as pd

SEPARATOR = " × "  # joins the attributes (and values) of an intersection, as the datasheet does


def partition_name(attributes: Sequence[str]) -> str:
    """``race`` for one attribute, ``race × age`` for an intersection."""
    return SEPARATOR.join(attributes)


def group_keys(frame: pd.DataFrame, attributes: Sequence[str]) -> pd.Series:
    """Each row's group in the partition over ``attributes`` (values joined by the separator)."""
    keys = frame[attributes[0]].astype(str)
    for attribute in attributes[1:]:
        keys = keys + SEPARATOR + frame[attribute].astype(str)
    return keys
