"""The explore / confirm split: drawn once, before anything looks at the predictions' errors.

A cohort found and measured on the same rows looks worse than it is (the winner's curse),
and no correction after the fact restores an interval's coverage. So the table is split once:
candidates are searched on the explore half only, and every reported number comes from the
confirm half, which the search never saw.

The split is stratified by label × every attribute discovery searches (each finest cell is
halved), so the halves have the same composition and a cohort's size on explore predicts its
size on confirm. It is a function of each row's id, its stratum and the seed only: the same
rows in any order split the same way, and it never reads ``pred``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def explore_mask(frame: pd.DataFrame, strata: Sequence[str], seed: int) -> np.ndarray:
    """True for the rows of the explore half, False for the confirm half.

    Within each stratum (the rows sharing every column of ``strata``) rows are ordered by a
    keyed hash of their ``id`` and alternate between the halves; which half gets a stratum's
    odd row out is another keyed hash, of the stratum, so neither half is systematically larger.
    Raises ValueError for repeated ids (a row seen twice could land in both halves).
    """
    ids = frame["id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"column `id` repeats values (e.g. {ids[ids.duplicated()].iloc[0]!r}): each row needs its own id")
    key = _hash_key(seed)
    order_key = pd.util.hash_array(ids.to_numpy(dtype=object), hash_key=key)
    stratum, names = _strata(frame, strata)
    order = np.lexsort((order_key, stratum))
    starts = np.searchsorted(stratum[order], np.arange(len(names)))
    position = np.empty(len(frame), dtype=np.int64)
    position[order] = np.arange(len(frame)) - starts[stratum[order]]
    flip = pd.util.hash_array(np.asarray(names, dtype=object), hash_key=_hash_key(seed, "odd")) % 2
    return (position + flip[stratum]) % 2 == 0


def _strata(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's stratum number and each stratum's name (its values joined), whatever the rows' order."""
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), np.array([""], dtype=object)
    codes, uniques = [], []
    for column in columns:
        code, unique = pd.factorize(frame[column].astype(str), sort=True)
        codes.append(code)
        uniques.append(np.asarray(unique, dtype=object))
    combined = np.ravel_multi_index(codes, [max(len(u), 1) for u in uniques])
    present, stratum = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(present, [max(len(u), 1) for u in uniques])
    names = np.array(["\x1f".join(u[p] for u, p in zip(uniques, position)) for position in zip(*parts)], dtype=object)
    return stratum.astype(np.int64), names


def _hash_key(seed: int, purpose: str = "order") -> str:
    """pandas' keyed hash takes 16 characters: the seed and the purpose, padded."""
    return f"{purpose[:5]:<5}{seed % 10**11:011d}"
