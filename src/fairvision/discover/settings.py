"""How discovery searches and judges, validated before any work: one place names every knob and its bounds.

The values come from params.yaml's `discover` section (``fairvision.discover.options``) and
the audit's tolerance bands (the verdicts judge against the same bands as the audit). A bad
value raises ValueError naming the knob and what was received, so nothing half runs.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Mapping

from fairvision.audit.verdicts import Band

Procedure = Literal["bh", "by"]
PROCEDURES: tuple[Procedure, ...] = ("bh", "by")

# The gaps discovery can test one-sidedly: each is a difference of one rate of the cohort's errors and its
# complement's, so "higher" always means "the model fails this cohort more" (fairvision.discover.metrics).
DEFAULT_METRICS = ("error_rate_difference", "false_negative_rate_difference", "false_positive_rate_difference")
MAX_ORDER = 3  # intersections of at most three attributes: beyond that, cells are too small to confirm anything


@dataclasses.dataclass(frozen=True)
class Settings:
    """Discovery's knobs (params.yaml `discover`), with the audit's bands for the verdicts.

    ``false_alarm`` is the chance, on a model with no disparity at all, that anything is
    reported (a Simes test of the global null gates Benjamini–Hochberg); None turns the gate off.
    ``min_cohort_size`` None: the power rule (``fairvision.discover.power``). ``embedding_*``: the
    searches in the model's embeddings (``fairvision.discover.embedding``), off unless asked for. ``level`` is the
    audit's confidence level (`audit.bootstrap.level`): the selected cohorts' intervals keep a
    false coverage rate of at most 1 − level, the audit's promise made to survive the selection.
    """

    bands: Mapping[str, Band]
    fdr: float = 0.1
    level: float = 0.95
    procedure: Procedure = "bh"
    false_alarm: float | None = 0.05
    max_candidates: int = 50
    max_order: int = MAX_ORDER
    power: float = 0.8
    min_cohort_size: int | None = None
    metrics: tuple[str, ...] = DEFAULT_METRICS
    mdss_subsets: int = 1
    mdss_iterations: int = 10
    mdss_penalty: float = 1.0
    embedding_components: int = 0  # params.yaml's default searches 8 (a simulated table has no model to embed it)
    embedding_dimensions: int = 16
    embedding_error_weight: float = 10.0
    embedding_shares: tuple[float, ...] = ()
    seed: int = 0

    @property
    def uses_embeddings(self) -> bool:
        """Whether any search reads the model's embeddings (else the stage never loads the model)."""
        return self.embedding_components > 0 or len(self.embedding_shares) > 0

    def __post_init__(self) -> None:
        from fairvision.discover.metrics import GAPS  # a leaf module; imported here to keep this one dependency-free

        _check(0 < self.fdr < 1, "fdr", "a number in (0, 1)", self.fdr)
        _check(0.5 <= self.level < 1, "level", "a number in [0.5, 1) (the audit's `bootstrap.level`)", self.level)
        _check(self.procedure in PROCEDURES, "procedure", f"one of {', '.join(PROCEDURES)}", self.procedure)
        _check(self.false_alarm is None or 0 < self.false_alarm < 1, "false_alarm", "null or a number in (0, 1)",
               self.false_alarm)
        _check(_integer(self.max_candidates, 1), "max_candidates", "an integer >= 1", self.max_candidates)
        _check(_integer(self.max_order, 1) and self.max_order <= MAX_ORDER, "max_order",
               f"an integer in [1, {MAX_ORDER}]", self.max_order)
        _check(0 < self.power < 1, "power", "a number in (0, 1)", self.power)
        _check(self.min_cohort_size is None or _integer(self.min_cohort_size, 1), "min_cohort_size",
               "auto or an integer >= 1", self.min_cohort_size)
        _check(len(self.metrics) > 0 and len(set(self.metrics)) == len(self.metrics)
               and all(m in GAPS for m in self.metrics), "metrics",
               f"a non-empty list without repeats drawn from {', '.join(GAPS)}", list(self.metrics))
        missing = [m for m in self.metrics if m not in self.bands]
        _check(not missing, "metrics", "metrics with a tolerance band in `audit.tolerance`", missing)
        _check(_integer(self.mdss_subsets, 0), "mdss_subsets", "an integer >= 0 (0 = no MDSS scan)", self.mdss_subsets)
        _check(_integer(self.mdss_iterations, 1), "mdss_iterations", "an integer >= 1", self.mdss_iterations)
        _check(self.mdss_penalty > 0, "mdss_penalty", "a number > 0", self.mdss_penalty)
        _check(_integer(self.embedding_components, 0), "embeddings.components", "an integer >= 0 (0 = no mixture)",
               self.embedding_components)
        _check(_integer(self.embedding_dimensions, 1), "embeddings.dimensions", "an integer >= 1",
               self.embedding_dimensions)
        _check(self.embedding_error_weight >= 0, "embeddings.error_weight", "a number >= 0",
               self.embedding_error_weight)
        _check(all(0 < share < 1 for share in self.embedding_shares)
               and len(set(self.embedding_shares)) == len(self.embedding_shares), "embeddings.top",
               "a list of shares in (0, 1) without repeats", list(self.embedding_shares))
        _check(_integer(self.seed, 0), "seed", "an integer >= 0", self.seed)


def _integer(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check(ok: bool, key: str, expected: str, value: object) -> None:
    if not ok:
        raise ValueError(f"`discover.{key}` must be {expected}, got {value!r}")
