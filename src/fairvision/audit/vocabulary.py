"""The audit's words, defined once: verdicts and group statuses, shared by audit, check and report.

How partitions are named (``SEPARATOR``, ``partition_name``) is core (``fairvision.groups``):
params.yaml's `reference` keys are partition names too.
"""

from __future__ import annotations

from typing import Literal

from fairvision.groups import SEPARATOR, partition_name

__all__ = ["AGAINST", "SEPARATOR", "STATUSES", "VERDICTS", "Status", "Verdict", "partition_name", "worst"]

Verdict = Literal["pass", "fail", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "inconclusive")

# A group's status in one table: its worst verdict, or why it has none.
Status = Literal["reference", "pass", "fail", "inconclusive", "insufficient_data"]
STATUSES: tuple[Status, ...] = ("reference", "pass", "fail", "inconclusive", "insufficient_data")

# Against whom a group is compared.
AGAINST = ("reference", "rest")


def worst(verdicts: list[Verdict]) -> Verdict:
    """``fail`` if any fails, else ``inconclusive`` if any is or none was given (nothing judged is no pass),
    else ``pass``."""
    if not verdicts:
        return "inconclusive"
    for verdict in ("fail", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "pass"
