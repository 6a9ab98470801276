"""Per-group mean saliency maps and the explanation disparity between a group and the reference group.

The images are aligned faces, so pixel-wise means are meaningful. A group's mean map is the
stratified mean of its sampled maps (each stratum, correct or incorrect, weighted by its share
of the group's test images). Disparity = 1 - Pearson correlation of two groups' mean maps: 0 when
they look at the same places in the same proportions, up to 2 when they are opposite.

Its interval is a percentile bootstrap over the sampled images (resampled within group and
stratum). Whether a disparity is measurable is a stratified permutation test: the two groups'
images are shuffled between them within each stratum, which is what chance alone gives two
samples of these sizes; p = (1 + draws at least as large) / (1 + draws).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from fairvision.statistics import percentile_intervals


@dataclasses.dataclass(frozen=True)
class GroupMaps:
    """One group's sampled maps [n, S, S] with their images' ids and strata, and its stratified mean maps."""

    ids: tuple[str, ...]
    maps: np.ndarray
    correct: np.ndarray  # bool per map
    weights: np.ndarray  # per map: its stratum's share of the group's test images / the stratum's sample size

    @property
    def mean(self) -> np.ndarray:
        return np.tensordot(self.weights, self.maps, axes=1)

    def stratum_mean(self, correct: bool) -> np.ndarray | None:
        chosen = self.maps[self.correct == correct]
        return chosen.mean(axis=0) if len(chosen) else None


@dataclasses.dataclass(frozen=True)
class Disparity:
    """A group's disparity from the reference group: point, percentile interval, permutation p-value."""

    value: float | None
    low: float | None
    high: float | None
    p_value: float | None


def group_maps(rows: pd.DataFrame, maps: dict[str, np.ndarray]) -> GroupMaps | None:
    """The maps of ``rows`` (one group's sample rows) that ``maps`` holds; None when it holds none."""
    rows = rows[rows["id"].isin(list(maps))]
    if rows.empty:
        return None
    correct = rows["correct"].to_numpy(bool)
    shares = rows["stratum_share"].to_numpy(float)
    present = {flag: float(shares[correct == flag][0]) for flag in (True, False) if (correct == flag).any()}
    total = sum(present.values())
    weights = np.array([present[flag] / total / (correct == flag).sum() for flag in correct])
    return GroupMaps(tuple(rows["id"]), np.stack([maps[image] for image in rows["id"]]), correct, weights)


def disparity(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """1 - Pearson correlation of each pair of maps (flattened; leading axes broadcast); NaN for a flat map."""
    a = first.reshape(*first.shape[:-2], -1)
    b = second.reshape(*second.shape[:-2], -1)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    dot = lambda x, y: np.einsum("...i,...i->...", x, y)  # noqa: E731
    norms = np.sqrt(dot(a, a) * dot(b, b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, 1.0 - dot(a, b) / np.where(norms > 0, norms, 1.0), np.nan)


def compare(group: GroupMaps, reference: GroupMaps, *, resamples: int, level: float,
            rng: np.random.Generator) -> Disparity:
    """``group``'s disparity from ``reference``, with a bootstrap interval and a permutation p-value."""
    observed = float(disparity(group.mean, reference.mean))
    if not np.isfinite(observed):
        return Disparity(None, None, None, None)
    draws = disparity(_bootstrap_means(group, resamples, rng), _bootstrap_means(reference, resamples, rng))
    low, high = percentile_intervals(draws[:, np.newaxis], level)[0]  # skips draws with a flat map
    shuffled = _permuted_disparities(group, reference, resamples, rng)
    p_value = (1 + int((shuffled >= observed).sum())) / (1 + resamples)
    return Disparity(observed, _finite(low), _finite(high), p_value)


def _bootstrap_means(group: GroupMaps, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Mean maps [resamples, S, S] of the group resampled with replacement within each stratum."""
    counts = np.zeros((resamples, len(group.maps)))
    for flag in (True, False):
        members = np.flatnonzero(group.correct == flag)
        if len(members):
            counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), resamples)
    return np.tensordot(counts * group.weights, group.maps, axes=1)


def _permuted_disparities(group: GroupMaps, reference: GroupMaps, resamples: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Disparities of ``resamples`` relabellings that swap images between the groups within each stratum,
    keeping each group's stratum sizes and weights."""
    maps = np.concatenate([group.maps, reference.maps])
    correct = np.concatenate([group.correct, reference.correct])
    in_group = np.concatenate([np.ones(len(group.maps), bool), np.zeros(len(reference.maps), bool)])
    weights = np.concatenate([group.weights, reference.weights])
    group_weight, reference_weight = np.zeros((resamples, len(maps))), np.zeros((resamples, len(maps)))
    for flag in (True, False):
        members = np.flatnonzero(correct == flag)
        if not len(members):
            continue
        size = int(in_group[members].sum())
        order = np.argsort(rng.random((resamples, len(members))), axis=1)  # a random permutation per draw
        chosen = np.zeros((resamples, len(members)), bool)
        np.put_along_axis(chosen, order[:, :size], True, axis=1)
        g_weight = weights[members][in_group[members]][0] if size else 0.0
        r_weight = weights[members][~in_group[members]][0] if size < len(members) else 0.0
        group_weight[:, members] = np.where(chosen, g_weight, 0.0)
        reference_weight[:, members] = np.where(chosen, 0.0, r_weight)
    return disparity(np.tensordot(group_weight, maps, axes=1), np.tensordot(reference_weight, maps, axes=1))


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
