"""Number formatting shared by the charts and the templates, so a value reads the same everywhere.

Audit values may be null (a rate with an empty denominator); they read "n/a", never crash.
"""

from __future__ import annotations

NOT_AVAILABLE = "n/a"


def pct(value: float | None, digits: int = 1) -> str:
    """A rate as a percentage: 0.934 -> '93.4%'."""
    return NOT_AVAILABLE if value is None else f"{value:.{digits}%}"


def num(value: float | None, digits: int = 3) -> str:
    """A metric value with fixed decimals, so columns line up: -0.2 -> '-0.200'."""
    return NOT_AVAILABLE if value is None else f"{value:.{digits}f}"


def count(value: int | None) -> str:
    """A large count with thousands separators: 412345 -> '412,345'."""
    return NOT_AVAILABLE if value is None else f"{value:,}"


def plain(value: object) -> str:
    """Any other value (a count, a tolerance) as written, or n/a when null."""
    return NOT_AVAILABLE if value is None else str(value)
