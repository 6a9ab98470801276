"""Verdicts from intervals: ``pass`` wholly within tolerance, ``fail`` wholly beyond, else ``inconclusive``.

A point estimate past the tolerance can be chance (a small group, an unlucky split); an
interval wholly past it cannot, at the stated confidence. Each verdict carries one sentence
saying why, for the report.
"""

from __future__ import annotations

import dataclasses
import math

from fairvision.audit.measures import COMPARISONS
from fairvision.audit.vocabulary import Verdict


@dataclasses.dataclass(frozen=True)
class Band:
    """The tolerated values of one metric: ``[low, high]`` around its parity value."""

    low: float
    high: float

    def describe(self) -> str:
        return f"[{_fmt(self.low)}, {_fmt(self.high)}]"


def verdict(
    metric: str, value: float, low: float, high: float, band: Band, level: float, *, at_ceiling: bool = False
) -> tuple[Verdict, str]:
    """The verdict of one comparison and its one-sentence explanation.

    ``value`` is the point estimate and ``[low, high]`` its interval at ``level`` (NaN when
    undefined; ``at_ceiling``: the level was capped by the resamples); the band comes from
    params.yaml `audit.tolerance`.
    """
    title = COMPARISONS[metric].title
    if not all(math.isfinite(x) for x in (value, low, high)):
        return "inconclusive", f"{title} has no finite interval, so it cannot be judged."
    stated = f"≥{level:.2%} (the resamples' ceiling)" if at_ceiling else f"{level:.1%}"
    interval = f"{title} is {_fmt(value)}; its {stated} interval [{_fmt(low)}, {_fmt(high)}]"
    if band.low <= low and high <= band.high:
        return "pass", f"{interval} lies wholly within the tolerance {band.describe()}."
    if high < band.low or low > band.high:
        side = "above" if low > band.high else "below"
        return "fail", f"{interval} lies wholly {side} the tolerance {band.describe()}."
    return "inconclusive", (f"{interval} straddles the edge of the tolerance {band.describe()}: "
                            "more data is needed to decide.")


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 0.001 or x == 0 else f"{x:.2e}"
