"""The audit's words, defined once: verdicts and group statuses, shared by audit, check and report."""

from __future__ import annotations

from typing import Literal, Sequence

Verdict = Literal["pass", "fail", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "inconclusive")

# A group's status in one table: its worst verdict, or why it has none.
Status = Literal["reference", "pass", "fail", "inconclusive", "insufficient_data"]
STATUSES: tuple[Status, ...] = ("reference", "pass", "fail", "inconclusive", "insufficient_data")

# Against whom a group is compared.
AGAINST = ("reference", "rest")

SEPARATOR = " × "  # joins the attributes (and values) of an intersection, as the datasheet does


def partition_name(attributes: Sequence[str]) -> str:
    """``race`` for one attribute, ``race × age`` for an intersection."""
    return SEPARATOR.join(attributes)


def worst(verdicts: list[Verdict]) -> Verdict:
    """``fail`` if any fails, else ``inconclusive`` if any is or none was given (nothing judged is no pass),
    else ``pass``."""
    if not verdicts:
        return "inconclusive"
    for verdict in ("fail", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "pass"
