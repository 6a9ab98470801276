"""Number formatting shared by the charts and the templates, so a value reads the same everywhere.

Audit values may be null (a rate with an empty denominator, an interval a bootstrap could not
bound); they read "n/a", never crash.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

NOT_AVAILABLE = "n/a"


def pct(value: float | None, digits: int = 1) -> str:
    """A rate as a percentage: 0.934 -> '93.4%'."""
    return NOT_AVAILABLE if value is None else f"{value:.{digits}%}"


def level(value: float | None, at_ceiling: bool = False) -> str:
    """A confidence level, with the digits it needs: never '100.0%' for a level below 1.

    ``at_ceiling``: the level was capped where the resamples run out, so it is a floor on what
    the family needed, said as such.
    """
    if value is None:
        return NOT_AVAILABLE
    digits = 1
    while digits < 8 and value < 1 and round(value * 100, digits) >= 100:
        digits += 1
    text = f"{value:.{digits}%}"
    return f"{text} (capped by the resamples: the family needed more)" if at_ceiling else text


def num(value: float | None, digits: int = 3) -> str:
    """A metric value with fixed decimals, so columns line up: -0.2 -> '-0.200'."""
    return NOT_AVAILABLE if value is None else f"{value:.{digits}f}"


def count(value: int | None) -> str:
    """A large count with thousands separators: 412345 -> '412,345'."""
    return NOT_AVAILABLE if value is None else f"{value:,}"


def plain(value: object) -> str:
    """Any other value (a count, a tolerance) as written, or n/a when null."""
    return NOT_AVAILABLE if value is None else str(value)


def sig(value: float | None, digits: int = 3) -> str:
    """A value of any magnitude with ``digits`` significant digits: 0.000301 -> '0.000301', 1.8718 -> '1.87'."""
    return NOT_AVAILABLE if value is None else f"{value:.{digits}g}"


ODDS_CEILING = 1000  # beyond it an odds ratio only says "nearly everyone in the cohort" (or nobody outside it)


def odds(value: float | None) -> str:
    """An odds ratio with 2 significant digits and no exponent: 72.48 -> '72', 0.0124 -> '0.012', 47504 -> '>1000'."""
    if value is None:
        return NOT_AVAILABLE
    if value >= ODDS_CEILING:
        return f">{ODDS_CEILING}"
    return f"{float(f'{value:.2g}'):g}" if value >= 1e-3 else f"<{1e-3:g}"


def interval(estimate: Mapping[str, Any] | None, digits: int = 2, *, significant: bool = False) -> str:
    """A value with its interval, compactly: '0.81 [0.77, 0.85]'; 'n/a' when the value and interval are all null."""
    if not estimate:
        return NOT_AVAILABLE
    show = (lambda x: sig(x, digits)) if significant else (lambda x: num(x, digits))
    low, high = estimate["ci"]
    if estimate["value"] is None and low is None and high is None:
        return NOT_AVAILABLE
    return f"{show(estimate['value'])} [{show(low)}, {show(high)}]"


def band(bounds: Sequence[float] | None) -> str:
    """A tolerance band as written in params.yaml: [-0.1, 0.1]."""
    return "none" if bounds is None else f"[{bounds[0]:g}, {bounds[1]:g}]"
