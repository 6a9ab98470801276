"""The gate's settings, and the rule that a change cannot loosen the gate that checks it.

`fairvision check` runs on a pull request's working tree, so the margins and the audit's
`min_group_size`, level and multiple-comparisons method would come from the very change under
review: a pull request raising a margin, or `min_group_size` until a regressed group is no longer
judged, would pass its own check. So the working tree's settings are compared with the
baseline's (the audit settings recorded in the baseline's fairness.json; the margins from the
baseline revision's params.yaml) and any that loosen the gate are a usage error naming each
key: such a change is merged on its own, by a reviewer who sees it, and the next check runs with
it. Settings that tighten the gate are used at once.

A baseline given as a folder carries no params.yaml: its audit settings are still compared, the
margins are the working tree's, and the check's output says so.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from fairvision.audit.intervals import Method
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.record import AuditSettings
from fairvision.errors import FairvisionError
from fairvision.params import Check, Params

__all__ = ["CheckSettings", "require_not_loosened"]

# Wider intervals find fewer regressions: each method's place from the narrowest to the widest.
_WIDTH = {"none": 0, "simultaneous": 1, "bonferroni": 2}


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """How to judge a change: margins from params.yaml `check`, the bootstrap and group size from `audit`."""

    difference_margin: float
    ratio_margin: float  # a share: |ln r| may grow by ln(1 + ratio_margin)
    min_group_size: int
    resamples: int  # at least this many paired replicates; more where a table's family needs them
    seed: int
    level: float
    multiple_comparisons: Method
    training_noise: Mapping[str, float] = dataclasses.field(default_factory=dict)  # metric -> allowance

    @classmethod
    def from_params(cls, params: Params) -> CheckSettings:
        """The gate's settings; raises FairvisionError naming `check.training_noise.<name>` for an unknown metric."""
        audit, noise = params.audit, params.check.training_noise
        unknown = sorted(set(noise) - set(COMPARISONS))
        if unknown:
            raise FairvisionError(f"params.yaml: `check.training_noise.{unknown[0]}` is not a metric; known: "
                                  + ", ".join(sorted(COMPARISONS)))
        return cls(params.check.difference_margin, params.check.ratio_margin, audit.min_group_size,
                   audit.bootstrap.resamples, audit.bootstrap.seed, audit.bootstrap.level,
                   audit.multiple_comparisons, dict(noise))  # type: ignore[arg-type]  # validated in params

    def margin(self, metric: str) -> float:
        """How much further from parity a metric may move: on the |d| scale, or the |ln r| scale for a ratio."""
        return {"difference": self.difference_margin, "ratio": math.log1p(self.ratio_margin)}[COMPARISONS[metric].kind]

    def allowance(self, metric: str) -> float:
        """How far a single training run's distance from parity may move by training randomness alone, on the
        margin's scale: a Δ must clear the margin by this much before a single run's change is a regression."""
        return self.training_noise.get(metric, 0.0)


def require_not_loosened(settings: CheckSettings, baseline_audit: AuditSettings, audit_file: str,
                         baseline_check: Check | None, params_file: str) -> None:
    """Raise FairvisionError naming every setting in which the working tree is looser than the baseline.

    ``baseline_audit`` is the baseline fairness.json's settings (``audit_file`` names it);
    ``baseline_check`` the baseline revision's params.yaml `check` section (``params_file``), None for a folder.
    """
    looser: list[str] = []

    def compare(key: str, now: Any, then: Any, loosens: bool, where: str) -> None:
        if loosens:
            looser.append(f"`{key}` is {now} in params.yaml but {then} in {where}")

    compare("audit.min_group_size", settings.min_group_size, baseline_audit.min_group_size,
            settings.min_group_size > baseline_audit.min_group_size, audit_file)
    compare("audit.bootstrap.level", settings.level, baseline_audit.level,
            settings.level > baseline_audit.level, audit_file)
    compare("audit.multiple_comparisons", settings.multiple_comparisons, baseline_audit.method,
            _WIDTH[settings.multiple_comparisons] > _WIDTH.get(baseline_audit.method, 0), audit_file)
    if baseline_check is not None:
        for key in ("difference_margin", "ratio_margin"):
            now, then = getattr(settings, key), getattr(baseline_check, key)
            compare(f"check.{key}", now, then, now > then, params_file)
        for metric in sorted(settings.training_noise):
            now, then = settings.allowance(metric), baseline_check.training_noise.get(metric, 0.0)
            compare(f"check.training_noise.{metric}", now, then, now > then, params_file)
    if looser:
        raise FairvisionError(
            "this change loosens the gate that checks it: " + "; ".join(looser) + ". A looser setting would let "
            "the change pass its own check; merge it on its own, reviewed, and later changes are checked with it "
            "(settings that tighten the gate are used at once)")

