"""Cohorts no label names, found in the model's own embeddings and frozen as rules before the confirm half.

A model may fail faces with glasses, in dim light or before a busy background, and no column
says so. Its penultimate layer (the SavedModel's `embeddings` endpoint) often does: images it
fails for one reason lie together there. Two searches, both fitted on the explore half only:

* **Error-aware mixture** (Domino-style, Eyuboglu et al., ICLR 2022): a mixture of diagonal
  Gaussians over the whitened principal components of the embeddings, in which each component
  also has its own error probability, whose log-likelihood counts ``error_weight`` times, so the
  components gather the model's errors instead of merely tiling the space. A row belongs to the
  component that is most likely *from its embedding alone*: membership never reads a row's error.
* **Failure direction** (Jain et al., ICLR 2023): a class-balanced logistic regression of
  "prediction wrong" on the same components; the cohort is the top ``share`` of the explore half
  along it, cut at the explore half's score quantile.

Both become ``EmbeddingRules``: the centring, the principal axes, the mixture's parameters, the
direction and its thresholds, fixed numbers that ``membership`` applies to any rows. The engine
fits them on explore and only then applies them to confirm, where every reported number comes
from. Deterministic for a seed (k-means++ start drawn from it; Newton's method has no randomness).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

MIXTURE = "mixture"
DIRECTION = "direction"
EM_ITERATIONS = 200
EM_TOLERANCE = 1e-6  # stop when the mean log-likelihood per row improves by less
VARIANCE_FLOOR = 1e-3  # of a whitened coordinate: a component may not collapse onto a few rows
NEWTON_ITERATIONS = 50
RIDGE = 1e-3  # the failure direction's L2 penalty, keeping Newton's method defined when errors separate


@dataclasses.dataclass(frozen=True, order=True)
class EmbeddingCohort:
    """One cohort of the rules: component ``index`` of the mixture, or the direction's ``index``-th share."""

    method: str  # MIXTURE or DIRECTION
    index: int
    label: str  # e.g. "embedding mixture 3 of 8", "embedding failure direction, top 10 %"

    @property
    def name(self) -> str:
        return self.label

    @property
    def conditions(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return ()  # no attribute describes it: that is the point

    @property
    def order(self) -> int:
        return 1

    def parents(self) -> tuple:
        return ()  # a finding of its own: it inherits from no labelled cohort


@dataclasses.dataclass(frozen=True)
class EmbeddingRules:
    """Frozen membership rules: fixed arrays, fitted once on the explore half."""

    cohorts: tuple[EmbeddingCohort, ...]
    centre: np.ndarray  # (D,)
    axes: np.ndarray  # (d, D): principal axes, each divided by its standard deviation (whitening)
    weights: np.ndarray  # (k,) mixture weights
    means: np.ndarray  # (k, d)
    variances: np.ndarray  # (k, d)
    direction: np.ndarray  # (d,) the failure direction; empty when not fitted
    thresholds: np.ndarray  # (s,) one score threshold per share

    @property
    def dimensions(self) -> int:
        return int(self.axes.shape[0])

    def coordinates(self, embeddings: np.ndarray) -> np.ndarray:
        """Whitened principal coordinates ``(n, d)``."""
        return (np.asarray(embeddings, np.float64) - self.centre) @ self.axes.T

    def membership(self, embeddings: np.ndarray) -> np.ndarray:
        """Which rows each cohort holds: boolean ``(n, len(cohorts))``, from the embeddings alone."""
        z = self.coordinates(embeddings)
        columns = []
        if len(self.weights):
            component = np.argmax(_log_densities(z, self.weights, self.means, self.variances), axis=1)
            columns += [component == k for k in range(len(self.weights))]
        if len(self.thresholds):
            score = z @ self.direction
            columns += [score >= t for t in self.thresholds]
        return np.stack(columns, axis=1) if columns else np.zeros((len(z), 0), bool)


def fit_rules(embeddings: np.ndarray, errors: np.ndarray, *, components: int, dimensions: int, error_weight: float,
              shares: Sequence[float], seed: int) -> EmbeddingRules:
    """Fit the mixture and the direction on the explore half's ``embeddings`` ``(n, D)`` and ``errors`` ``(n,)``.

    ``components`` 0 or ``shares`` empty leaves that search out. With fewer rows than
    components, or no error or nothing but errors, the error-driven parts have nothing to find
    and are left out too (an empty rule set, never an error).
    """
    x = np.asarray(embeddings, np.float64)
    e = np.asarray(errors, np.float64)
    centre = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    axes = _principal_axes(x - centre, dimensions)
    z = (x - centre) @ axes.T
    informative = 0 < e.sum() < len(e) and axes.shape[0] > 0
    k = components if informative and len(x) >= 2 * components else 0
    weights, means, variances = _mixture(z, e, k, error_weight, np.random.default_rng(seed)) if k else (
        np.zeros(0), np.zeros((0, axes.shape[0])), np.zeros((0, axes.shape[0])))
    shares = tuple(shares) if informative else ()
    direction = _failure_direction(z, e) if shares else np.zeros(0)
    score = z @ direction if shares else np.zeros(0)
    thresholds = np.array([np.quantile(score, 1 - share, method="higher") for share in shares])
    cohorts = tuple(EmbeddingCohort(MIXTURE, i, f"embedding mixture {i + 1} of {k}") for i in range(k)) + tuple(
        EmbeddingCohort(DIRECTION, i, f"embedding failure direction, top {_percent(share)}")
        for i, share in enumerate(shares))
    return EmbeddingRules(cohorts, centre, axes, weights, means, variances, direction, thresholds)


def _percent(share: float) -> str:
    return f"{share * 100:.3g} %"


def _principal_axes(centred: np.ndarray, dimensions: int) -> np.ndarray:
    """The first ``dimensions`` principal axes with positive variance, scaled so coordinates have variance 1."""
    if len(centred) < 2:
        return np.zeros((0, centred.shape[1]))
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    std = singular / np.sqrt(len(centred) - 1)
    keep = std > std[0] * 1e-6 if len(std) and std[0] > 0 else np.zeros(len(std), bool)
    keep[dimensions:] = False
    signs = np.sign(vt[keep, np.argmax(np.abs(vt[keep]), axis=1)])  # a fixed sign per axis: SVD's is arbitrary
    return vt[keep] * (signs / std[keep])[:, None]


def _log_densities(z: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """log w_k + log N(z; mean_k, diag variance_k): ``(n, k)``."""
    diff = z[:, None, :] - means[None]
    return (np.log(weights)[None] - 0.5 * (np.log(2 * np.pi * variances).sum(axis=1)[None]
                                           + (diff ** 2 / variances[None]).sum(axis=2)))


def _mixture(z: np.ndarray, e: np.ndarray, k: int, error_weight: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM for Gaussians over ``z`` with a Bernoulli error per component weighted ``error_weight``.

    Started from k-means++ centres over the coordinates and the weighted error flag, so the
    start already separates errors. Returns the weights, means and variances: the membership
    rule (each component's error rate shaped them, and is left behind with the explore half).
    """
    start = _kmeans_plus_plus(np.column_stack([z, np.sqrt(error_weight) * e]), k, rng)[:, :-1]
    responsibility = _one_hot(np.argmin(((z[:, None] - start[None]) ** 2).sum(axis=2), axis=1), k)
    previous = -np.inf
    for _ in range(EM_ITERATIONS):
        weights, means, variances, rates = _m_step(z, e, responsibility)
        joint = _log_densities(z, weights, means, variances) + error_weight * (
            e[:, None] * np.log(rates)[None] + (1 - e[:, None]) * np.log1p(-rates)[None])
        top = joint.max(axis=1, keepdims=True)
        total = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
        responsibility = np.exp(joint - total[:, None])
        if total.mean() - previous < EM_TOLERANCE:
            break
        previous = total.mean()
    return _m_step(z, e, responsibility)[:3]


def _m_step(z: np.ndarray, e: np.ndarray,
            responsibility: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mass = responsibility.sum(axis=0) + 1e-9
    weights = mass / mass.sum()
    means = responsibility.T @ z / mass[:, None]
    variances = np.maximum(responsibility.T @ z ** 2 / mass[:, None] - means ** 2, VARIANCE_FLOOR)
    rates = np.clip((responsibility.T @ e + 0.5) / (mass + 1.0), 1e-6, 1 - 1e-6)  # Jeffreys-smoothed
    return weights, means, variances, rates


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): centres drawn far apart, by the seeded ``rng``."""
    centres = [points[rng.integers(len(points))]]
    distance = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = distance.sum()
        chosen = rng.choice(len(points), p=distance / total) if total > 0 else rng.integers(len(points))
        centres.append(points[chosen])
        distance = np.minimum(distance, ((points - points[chosen]) ** 2).sum(axis=1))
    return np.array(centres)


def _one_hot(index: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(index), k))
    out[np.arange(len(index)), index] = 1.0
    return out


def _failure_direction(z: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The weights of a class-balanced, lightly ridged logistic regression of ``e`` on ``z`` (Newton's method).

    Balanced: errors and correct predictions weigh half each, so a rare error still tilts the
    direction. The intercept is fitted but dropped: only the ranking along the direction matters.
    """
    x = np.column_stack([z, np.ones(len(z))])
    sample_weight = np.where(e > 0, 0.5 / e.sum(), 0.5 / (len(e) - e.sum())) * len(e)
    beta = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], RIDGE * len(e))
    penalty[-1] = 0.0
    for _ in range(NEWTON_ITERATIONS):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -30, 30)))
        gradient = x.T @ (sample_weight * (p - e)) + penalty * beta
        hessian = (x * (sample_weight * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1]
